using System.Net.Http.Json;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Faults;
using Dtx.Shared.Business;
using Dtx.Shared.Failpoints;
using Dtx.Tests.Infrastructure;
using Dtx.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Dtx.Tests.Failpoints;

/// <summary>
/// Arming a crash must not race the crash it arms. Under continuous traffic the step fires within microseconds of
/// being armed, so the arming call's answer can be lost with the process; what counts is whether the process died at
/// the failpoint, never what became of the call.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ArmingRaceTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly StepFault CrashAfterCommit = new([TimeSpan.Zero], StepRoles.InitiatorAfterCommit,
        FailpointSpec.Parse("crash@once"), RestartAfter: TimeSpan.FromMilliseconds(200), ArmedFor: TimeSpan.Zero);

    [Fact]
    public async Task A_crash_armed_on_a_step_hit_continuously_is_injected_every_time()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation(), stock: 1_000_000);
        using var traffic = new Traffic(rig.Supervisor.UrlOf("initiator"));

        const int crashes = 6;
        var nemesis = rig.Nemesis();
        for (var i = 0; i < crashes; i++)
        {
            await traffic.WaitForCommitsAsync(20);
            await nemesis.RunAsync([CrashAfterCommit], default);
            Assert.Equal(FaultOutcome.Injected, rig.Faults.All.Last().Outcome);
        }
        await traffic.StopAsync();
        output.WriteLine($"{traffic.Committed} orders committed, {traffic.Cut} cut off, {traffic.Refused} refused, during {crashes} crashes");

        var recorded = rig.Faults.All;
        Assert.Equal(crashes, recorded.Count);
        Assert.All(recorded, f =>
        {
            Assert.Equal(FaultOutcome.Injected, f.Outcome);
            Assert.Equal("initiator.after-commit", f.Step);
            Assert.True(f.EndSeconds >= f.AtSeconds, "a crash window ends when the restarted process answers");
        });
        // Evidence that each crash hit a request in flight: the one at the step had its connection cut, which is
        // counted apart from the refusals while the service restarted.
        Assert.True(traffic.Cut >= crashes, $"{traffic.Cut} requests cut off for {crashes} crashes ({traffic.Refused} refused)");
        await rig.DrainedAsync(TimeSpan.FromSeconds(60));
        // Every committed order, including those whose commit the crash interrupted, reached the participant once.
        var deducted = await rig.InventoryAsync("SELECT count(*) FROM inventory_orders");
        Assert.Equal(deducted, await rig.OrdersAsync("SELECT count(*) FROM order_applications"));
    }

    [Fact]
    public async Task A_death_that_was_not_the_failpoint_is_not_counted_as_the_crash()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation());
        var pid = InitiatorPid(rig);

        // The process is stopped, so the arming call hangs; then it dies of something else (SIGKILL from outside)
        // before the step was ever reached. The call fails with the process — as in the race — but there is no
        // FAILPOINT CRASH line, so the planned crash did not happen.
        ProcessTable.Signal(pid, Signals.SIGSTOP);
        var crash = rig.Nemesis().RunAsync([CrashAfterCommit], default);
        await Task.Delay(500);
        ProcessTable.Signal(pid, Signals.SIGKILL);

        await crash;
        var faults = rig.Faults.All;
        Assert.Contains(faults, f => f.Outcome == FaultOutcome.UnexpectedExit && f.Step is null);
        Assert.Contains(faults, f => f.Outcome == FaultOutcome.NotTriggered && f.Step == "initiator.after-commit");
        Assert.DoesNotContain(faults, f => f.Outcome == FaultOutcome.Injected);
    }

    [Fact]
    public async Task A_crash_at_a_step_no_request_reaches_is_not_triggered_and_disarmed()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation());

        await rig.Nemesis().RunAsync([CrashAfterCommit], default);

        var fault = Assert.Single(rig.Faults.All);
        Assert.Equal(FaultOutcome.NotTriggered, fault.Outcome);
        Assert.Contains("initiator.after-commit", fault.Note);
        // Disarmed: an order placed now commits and is answered instead of killing the process.
        using var response = await rig.PlaceAsync(new PlaceOrder("o-after", "sku-01", 1, "c-1"));
        Assert.True(response.IsSuccessStatusCode);
        Assert.Single(rig.Faults.All);
    }

    private static int InitiatorPid(Rig rig)
    {
        // The service's pid, found by its HTTP port: the supervisor does not hand out its processes.
        var port = rig.Supervisor.UrlOf("initiator").Port;
        return ProcessTable.All().Single(p => p.State != 'Z'
            && p.CommandLine.Contains(" service local-table initiator ", StringComparison.Ordinal)
            && p.CommandLine.Contains($" {port} ", StringComparison.Ordinal)).Pid;
    }

    /// <summary>
    /// Eight clients placing orders back to back, so that a step after the commit is hit every few milliseconds.
    /// Bounded: it stops when asked, or after 20,000 requests, or after two minutes.
    /// </summary>
    private sealed class Traffic : IDisposable
    {
        private const int Clients = 8;
        private const int MaxRequests = 20_000;
        private readonly HttpClient _http;
        private readonly CancellationTokenSource _stop = new(TimeSpan.FromMinutes(2));
        private readonly Task _running;
        private int _sent;
        private int _committed;
        private int _cut;
        private int _refused;

        public Traffic(Uri initiator)
        {
            _http = new HttpClient { BaseAddress = initiator, Timeout = TimeSpan.FromSeconds(5) };
            _running = Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(() => ClientAsync(c))));
        }

        public int Committed => Volatile.Read(ref _committed);
        public int Cut => Volatile.Read(ref _cut);
        public int Refused => Volatile.Read(ref _refused);

        /// <summary>Returns once <paramref name="more"/> further orders have committed: the service is up and the step is hot.</summary>
        public Task WaitForCommitsAsync(int more)
        {
            var target = Committed + more;
            return Eventually.HoldsAsync(() => Task.FromResult(Committed), n => n >= target, TimeSpan.FromSeconds(30), $"{more} more commits");
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await _running;
        }

        private async Task ClientAsync(int client)
        {
            while (!_stop.IsCancellationRequested && Interlocked.Increment(ref _sent) <= MaxRequests)
            {
                var order = new PlaceOrder($"race-{client}-{Guid.NewGuid():N}", "sku-01", 1, $"c-{client}");
                try
                {
                    using var response = await _http.PostAsJsonAsync("/orders", order, Json.Options, _stop.Token);
                    if (response.IsSuccessStatusCode) Interlocked.Increment(ref _committed);
                }
                catch (HttpRequestException e) when (e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
                {
                    // Nobody listening: the service is restarting.
                    Interlocked.Increment(ref _refused);
                    await Task.Delay(20);
                }
                catch (HttpRequestException)
                {
                    // Sent, then the connection died under it: the crash.
                    Interlocked.Increment(ref _cut);
                    await Task.Delay(20);
                }
                catch (TaskCanceledException) when (!_stop.IsCancellationRequested)
                {
                    Interlocked.Increment(ref _cut);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _http.Dispose();
            _stop.Dispose();
        }
    }
}
