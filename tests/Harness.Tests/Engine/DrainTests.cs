using System.Diagnostics;
using Dtx.Harness.Checking;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Scenarios;
using Xunit;

namespace Dtx.Tests.Engine;

/// <summary>
/// The drain on a scripted probe: the baseline, which cannot recover, is given up on once its figures stand still,
/// and nothing else is — a reference waits out the deadline, and so does the baseline while messages still queue or
/// its figures still move.
/// </summary>
public sealed class DrainTests
{
    private static readonly RunTarget Target = new("inventory", "orders", "amqp://x", "dtx.test");
    private static readonly InDoubt Stuck = new(0, 0, 3, 0);

    [Fact]
    public async Task The_baseline_is_given_up_on_once_its_figures_stand_still()
    {
        var watch = Stopwatch.StartNew();
        var (drained, _) = await ScenarioRunner.DrainAsync(new Scripted(_ => Stuck, hopelessAfter: TimeSpan.FromSeconds(1)), Target, TimeSpan.FromSeconds(20), default);
        Assert.False(drained);
        Assert.InRange(watch.Elapsed.TotalSeconds, 1, 5);
    }

    [Fact]
    public async Task A_reference_waits_out_the_deadline_however_still_it_stands()
    {
        var watch = Stopwatch.StartNew();
        var (drained, _) = await ScenarioRunner.DrainAsync(new Scripted(_ => Stuck, hopelessAfter: null), Target, TimeSpan.FromSeconds(3), default);
        Assert.False(drained);
        Assert.True(watch.Elapsed.TotalSeconds >= 3, $"gave up after {watch.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task The_baseline_is_not_given_up_on_while_messages_queue()
    {
        var watch = Stopwatch.StartNew();
        var (drained, _) = await ScenarioRunner.DrainAsync(new Scripted(_ => Stuck with { QueuedMessages = 5 }, hopelessAfter: TimeSpan.FromSeconds(1)), Target, TimeSpan.FromSeconds(3), default);
        Assert.False(drained);
        Assert.True(watch.Elapsed.TotalSeconds >= 3, $"gave up after {watch.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task The_baseline_is_not_given_up_on_while_its_figures_move()
    {
        var watch = Stopwatch.StartNew();
        var (drained, _) = await ScenarioRunner.DrainAsync(new Scripted(n => Stuck with { PendingOrders = 100 - n }, hopelessAfter: TimeSpan.FromSeconds(1)), Target, TimeSpan.FromSeconds(3), default);
        Assert.False(drained);
        Assert.True(watch.Elapsed.TotalSeconds >= 3, $"gave up after {watch.Elapsed.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task Nothing_in_doubt_for_the_settle_period_is_drained()
    {
        // Three stuck probes take half a second, or over a second when the machine is busy (CI once was): the
        // give-up period is far beyond either, so only the settle path is under test.
        var (drained, _) = await ScenarioRunner.DrainAsync(new Scripted(n => n < 3 ? Stuck : new InDoubt(0, 0, 0, 0), hopelessAfter: TimeSpan.FromSeconds(10)), Target, TimeSpan.FromSeconds(20), default);
        Assert.True(drained);
    }

    [Fact]
    public void Only_the_baseline_is_ever_given_up_on_or_judged_leniently()
    {
        Assert.All(ImplementationCatalog.References, i => Assert.True(i.HopelessAfter is null && i.BaselineMayBreak is null && !i.IsBaseline, i.Name));
        var baseline = Assert.Single(ImplementationCatalog.All, i => i.IsBaseline);
        Assert.DoesNotContain(Checker.NoPhantomOrder, baseline.BaselineMayBreak!);
        Assert.NotNull(baseline.HopelessAfter);
    }

    [Fact]
    public void After_a_link_fault_the_baseline_is_given_two_heartbeats_before_it_is_given_up_on()
    {
        // A consumer on a link that went silent holds its unacked deliveries, invisible to the probe, until the broker
        // closes the connection after two missed heartbeats and requeues them.
        var baseline = ImplementationCatalog.All.Single(i => i.IsBaseline);
        var quiet = ScenarioCatalog.Find("crash-after-commit");
        var hung = ScenarioCatalog.Find("hang-broker");
        Assert.Equal(baseline.HopelessAfter, ScenarioRunner.HopelessAfter(baseline, quiet));
        Assert.True(ScenarioRunner.HopelessAfter(baseline, hung) > 2 * Dtx.Shared.Messaging.AmqpConnection.Heartbeat);
        Assert.Null(ScenarioRunner.HopelessAfter(ImplementationCatalog.References[0], hung));
    }

    /// <summary>An implementation whose probe answers from a script, one call after another.</summary>
    private sealed class Scripted(Func<int, InDoubt> probe, TimeSpan? hopelessAfter) : IImplementation
    {
        private int _calls;
        public string Name => "scripted";
        public bool IsBaseline => hopelessAfter is not null;
        public TimeSpan? HopelessAfter => hopelessAfter;
        public IReadOnlyList<string> Services => ["initiator"];
        public string EntryService => "initiator";
        public bool HasBrokerDatabase => false;
        public string DatabaseOf(string service, RunTarget target) => target.InventoryDb;
        public IReadOnlyDictionary<string, string> ExtraSettings(string service, RunTarget target, ProtocolTiming timing) => new Dictionary<string, string>();
        public StepBinding? Bind(string stepRole) => null;
        public Task<InDoubt> ProbeAsync(RunTarget target, CancellationToken ct) => Task.FromResult(probe(_calls++));
        public Task<IReadOnlyDictionary<string, long>> CountAbsorbedAsync(RunTarget target, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, long>>(new Dictionary<string, long>());
    }
}
