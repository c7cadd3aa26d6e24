using System.Net;
using Dtx.Harness.Faults;
using Dtx.Harness.Infrastructure;
using Dtx.Shared.Hosting;

namespace Dtx.Harness.Services;

/// <summary>How a control request ended: answered with a status, or not answered because the process it was meant for died.</summary>
/// <param name="Launch">Which process of the service the request was meant for (1 for the first, 2 after one restart …).</param>
public sealed record ControlReply(HttpStatusCode? Status, string Body, int Launch = 0)
{
    public static ControlReply ProcessDied(int launch) => new(null, "", launch);
    public bool Answered => Status is not null;
    public bool Succeeded => Status is { } status && (int)status is >= 200 and < 300;
}

/// <summary>A process's death as the supervisor saw it: when, its exit code, and what it wrote to its log since it started.</summary>
public sealed record Death(double AtSeconds, int ExitCode, string LastWords);

/// <summary>
/// A death the nemesis is about to cause. <see cref="Died"/> completes when the process dies; <see cref="Restarted"/>
/// when its successor answers (with the time), or fails when it does not come back.
/// </summary>
public sealed class ExpectedDeath(TimeSpan restartAfter)
{
    public TimeSpan RestartAfter { get; } = restartAfter;
    internal TaskCompletionSource<Death> DiedSource { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    internal TaskCompletionSource<double> RestartedSource { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public Task<Death> Died => DiedSource.Task;
    public Task<double> Restarted => RestartedSource.Task;
}

/// <summary>
/// Keeps an implementation's services running: starts them (together), waits until each answers, and restarts one
/// that dies. It only starts, watches, restarts, signals and relays control requests; which deaths were faults is the
/// nemesis's to judge. An exit nobody expected (a bug, an out-of-memory kill) goes to the fault log as an
/// unexpected exit, so it cannot pass unnoticed, and so does a restart that fails.
/// </summary>
public sealed class Supervisor(string implementation, RunClock clock, string logDir, FaultLog faults, Action<string> say) : IAsyncDisposable
{
    private readonly RunClock _clock = clock;
    private readonly string _logDir = logDir;
    private readonly FaultLog _faults = faults;
    private readonly Action<string> _say = say;
    private static readonly TimeSpan HealthPatience = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan UnexpectedRestartDelay = TimeSpan.FromSeconds(1);
    private readonly List<Service> _services = [];
    private readonly CancellationTokenSource _stopping = new();
    // A fresh connection per control request: a restarted service listens on the same port, and a kept-alive
    // connection to the process that died would fail the next request that happened to reuse it.
    private static readonly HttpClient Control = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero })
    {
        Timeout = TimeSpan.FromSeconds(5),
        DefaultRequestHeaders = { ConnectionClose = true },
    };

    public string Implementation => implementation;

    public IEnumerable<string> Roles => _services.Select(s => s.Role);

    public Uri UrlOf(string service) => Find(service).Url;

    /// <summary>The process id of the service's current process, or null while none runs.</summary>
    public int? ProcessIdOf(string service) => Find(service).ProcessId;

    /// <summary>Whether this implementation runs a service of that name (a fault on one it lacks is not applicable).</summary>
    public bool Has(string role) => _services.Any(s => s.Role == role);

    /// <summary>Returns once the service answers; after a crash, once its restarted process does; fails if it did not come back.</summary>
    public Task WaitHealthyAsync(string service, CancellationToken ct = default) => Find(service).WaitHealthyAsync(ct);

    public async Task StartAsync(string role, IReadOnlyDictionary<string, string> options, int port, CancellationToken ct)
    {
        var service = new Service(this, role, options, port);
        lock (_services) _services.Add(service); // services of one run may be started together
        await service.StartAsync(ct);
    }

    /// <summary>
    /// Announces that the service's current process is about to die, so that its death is not reported as unexpected
    /// and its successor starts after <paramref name="restartAfter"/>. <see cref="Cancel"/> withdraws it.
    /// </summary>
    public ExpectedDeath ExpectDeath(string service, TimeSpan restartAfter) => Find(service).Expect(restartAfter);

    /// <summary>Withdraws an expectation; false when the process died first and the expectation was taken.</summary>
    public bool Cancel(string service, ExpectedDeath expected) => Find(service).Withdraw(expected);

    /// <summary>
    /// One control request to the service's current process (arm or disarm a failpoint, read them). A request can be
    /// overtaken by its own effect — a failpoint it armed fires and kills the process before the answer is written —
    /// so a failed request is tried again only while that same process is alive; once it is dead the reply is
    /// <see cref="ControlReply.ProcessDied"/>, and whether that death was the fault is for the caller to judge.
    /// </summary>
    public Task<ControlReply> ControlAsync(string service, HttpMethod method, string path, string? body, CancellationToken ct) =>
        Find(service).ControlAsync(method, path, body, ct);

    /// <summary>Sends a signal to the service's process group (SIGSTOP and SIGCONT pause it, SIGKILL crashes it); false when no process was running.</summary>
    public bool Signal(string service, int signal) => Find(service).Signal(signal);

    /// <summary>
    /// The protocol's work every service did so far (requests served, messages published and consumed), summed over
    /// every process each service ran: a crash does not take a dead process's counts with it.
    /// </summary>
    public ServiceCounters.Snapshot Counters()
    {
        Service[] services;
        lock (_services) services = [.. _services];
        return services.Select(s => s.Counters()).Aggregate(ServiceCounters.Snapshot.Zero, (sum, one) => sum + one);
    }

    /// <summary>Stops the services for good (no restarts from here on), politely first.</summary>
    public async Task StopAllAsync()
    {
        await _stopping.CancelAsync();
        // All at once: the load has ended and the drain is over, so no service waits for another any more, and one
        // after the other cost a second or two of every run.
        await Task.WhenAll(_services.Select(service => service.StopAsync()));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAllAsync();
        _stopping.Dispose();
    }

    private Service Find(string role) =>
        _services.FirstOrDefault(s => s.Role == role) ?? throw new ArgumentException($"{implementation} has no running service '{role}'");

    private sealed class Service(Supervisor owner, string role, IReadOnlyDictionary<string, string> options, int port)
    {
        // How long a process whose control call failed may take to be seen dead before the failure counts as the network's.
        private static readonly TimeSpan DeathPatience = TimeSpan.FromSeconds(3);
        private const int ControlAttempts = 3;

        private ChildProcess? _process;
        private long _logOffset;
        private TaskCompletionSource _healthy = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private ExpectedDeath? _expected;
        private int _launches;
        private readonly List<string> _countersFiles = [];

        /// <summary>What every process of this service did so far, the dead ones' to their last increment.</summary>
        public ServiceCounters.Snapshot Counters()
        {
            string[] files;
            lock (_countersFiles) files = [.. _countersFiles];
            return files.Where(File.Exists).Select(ServiceCounters.ReadFile).Aggregate(ServiceCounters.Snapshot.Zero, (sum, one) => sum + one);
        }

        public string Role => role;
        public Uri Url { get; } = new($"http://127.0.0.1:{port}");
        public int? ProcessId => _process is { HasExited: false } running ? running.Pid : null;
        private string LogPath => Path.Combine(owner._logDir, $"{owner.Implementation}-{role}.log");

        public async Task StartAsync(CancellationToken ct)
        {
            await LaunchAsync(ct);
            _ = WatchAsync();
        }

        public Task WaitHealthyAsync(CancellationToken ct) => _healthy.Task.WaitAsync(ct);

        public ExpectedDeath Expect(TimeSpan restartAfter)
        {
            var expected = new ExpectedDeath(restartAfter);
            // One at a time: a second would take the first one's death (the nemesis runs them one after the other).
            if (Interlocked.CompareExchange(ref _expected, expected, null) is not null)
                throw new InvalidOperationException($"{owner.Implementation} {role} already expects a death");
            return expected;
        }

        public bool Withdraw(ExpectedDeath expected) => Interlocked.CompareExchange(ref _expected, null, expected) == expected;

        public bool Signal(int signal)
        {
            if (_process is not { HasExited: false } process) return false;
            process.Signal(signal);
            return true;
        }

        public async Task<ControlReply> ControlAsync(HttpMethod method, string path, string? body, CancellationToken ct)
        {
            var (process, launch) = (_process!, _launches);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    using var request = new HttpRequestMessage(method, new Uri(Url, path));
                    if (body is not null) request.Content = new StringContent(body);
                    using var response = await Control.SendAsync(request, ct);
                    // The port is the successor's once the process died: an answer counts only from the one it was meant for.
                    if (process.HasExited) return ControlReply.ProcessDied(launch);
                    return new ControlReply(response.StatusCode, await response.Content.ReadAsStringAsync(ct), launch);
                }
                catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
                {
                    if (await DiedAsync(process, ct)) return ControlReply.ProcessDied(launch);
                    var why = e.Message + (e.InnerException is { } inner ? ": " + inner.Message : "");
                    if (attempt == ControlAttempts)
                        throw new InvalidOperationException($"{method} {path} on {owner.Implementation} {role} failed {ControlAttempts} times although the process is alive: {why}", e);
                    // Said, not swallowed: a control request to a live service should not fail, and the run's log must show it.
                    owner._say($"{method} {path} on {role} failed ({why}); the process is alive, trying again");
                    await Task.Delay(200, ct);
                }
            }
        }

        private static async Task<bool> DiedAsync(ChildProcess process, CancellationToken ct)
        {
            try
            {
                await process.Exited.WaitAsync(DeathPatience, ct);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        public async Task StopAsync()
        {
            if (_process is { } process) await process.StopAsync(TimeSpan.FromSeconds(5));
        }

        private async Task LaunchAsync(CancellationToken ct)
        {
            // Failpoints given at start-up arm the first process only: re-arming them in every restarted process
            // would turn one crash into a crash loop on the message that is redelivered to it.
            var settings = (_launches == 0 ? options : options.Where(kv => kv.Key != "failpoints")).ToDictionary();
            // Each process counts its work in a file of its own, which its SIGKILL cannot take back (ServiceCounters).
            var counters = Path.Combine(owner._logDir, "counters", $"{owner.Implementation}-{role}-{++_launches}.counters");
            Directory.CreateDirectory(Path.GetDirectoryName(counters)!);
            File.Delete(counters);
            settings["counters"] = counters;
            lock (_countersFiles) _countersFiles.Add(counters);
            _logOffset = LogFile.Length(LogPath);
            _process = ServiceLauncher.Start(owner.Implementation, role, settings, LogPath);
            var deadline = DateTime.UtcNow + HealthPatience;
            while (true)
            {
                if (_process.HasExited)
                    throw new InvalidOperationException($"{owner.Implementation} {role} exited with code {await _process.Exited} while starting; see {LogPath}:{Environment.NewLine}{LogFile.Tail(LogPath, 15)}");
                try
                {
                    using var response = await Control.GetAsync(new Uri(Url, "/health"), ct);
                    if (response.IsSuccessStatusCode) break;
                }
                catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
                {
                    // Not listening yet, or too busy starting to answer within the control timeout: not yet.
                }
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"{owner.Implementation} {role} did not answer on {Url} within {HealthPatience.TotalSeconds:0}s; see {LogPath}");
                await Task.Delay(100, ct);
            }
            _healthy.TrySetResult();
        }

        private async Task WatchAsync()
        {
            var stopping = owner._stopping.Token;
            while (!stopping.IsCancellationRequested)
            {
                var process = _process!;
                var code = await process.Exited;
                if (stopping.IsCancellationRequested) return;
                var diedAt = owner._clock.Seconds;
                // Anyone who waits for this service from now on waits for the restarted process.
                _healthy = new(TaskCreationOptions.RunContinuationsAsynchronously);
                var expected = Interlocked.Exchange(ref _expected, null);
                expected?.DiedSource.TrySetResult(new Death(diedAt, code, LogFile.ReadFrom(LogPath, _logOffset)));
                var restartAfter = expected?.RestartAfter ?? UnexpectedRestartDelay;
                owner._say($"{owner.Implementation} {role} died (exit {code}) at {diedAt:0.0}s{(expected is null ? ", unexpectedly" : "")}; restarting in {restartAfter.TotalSeconds:0.#}s");
                try
                {
                    await Task.Delay(restartAfter, stopping);
                    await LaunchAsync(stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception e)
                {
                    // An expected death's failed restart is recorded by whoever expected it, against its planned fault.
                    if (expected is null)
                        owner._faults.Record(new FaultRecord(FaultKind.Crash, role, null, diedAt, null, $"restart failed after an unexpected exit: {e.Message}", FaultOutcome.RestartFailed));
                    expected?.RestartedSource.TrySetException(e);
                    // Nobody may wait for this service forever: every later wait fails with the reason.
                    _healthy.TrySetException(new InvalidOperationException($"{owner.Implementation} {role} did not restart: {e.Message}", e));
                    return;
                }
                if (expected is null)
                    owner._faults.Record(new FaultRecord(FaultKind.Crash, role, null, diedAt, owner._clock.Seconds, $"unexpected exit (code {code})", FaultOutcome.UnexpectedExit));
                expected?.RestartedSource.TrySetResult(owner._clock.Seconds);
            }
        }
    }
}
