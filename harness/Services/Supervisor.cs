using System.Collections.Concurrent;
using System.Net;
using Dtx.Harness.Infrastructure;

namespace Dtx.Harness.Services;

/// <summary>
/// Keeps an implementation's services running: starts them in order, waits until each answers, and restarts
/// one that dies after its restart delay, recording the window as a fault. An exit nobody asked for (a bug, an
/// out-of-memory kill) is restarted and recorded too, as an unexpected exit, so it cannot pass unnoticed.
/// </summary>
public sealed class Supervisor(string implementation, RunClock clock, string logDir, Action<string> say) : IAsyncDisposable
{
    private readonly string _implementation = implementation;
    private readonly RunClock _clock = clock;
    private readonly string _logDir = logDir;
    private readonly Action<string> _say = say;
    private static readonly TimeSpan HealthPatience = TimeSpan.FromSeconds(90);
    private readonly List<Service> _services = [];
    private readonly ConcurrentQueue<FaultRecord> _faults = new();
    private readonly CancellationTokenSource _stopping = new();
    // A fresh connection per control request: a restarted service listens on the same port, and a kept-alive
    // connection to the process that died would fail the next request that happened to reuse it.
    private static readonly HttpClient Control = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero })
    {
        Timeout = TimeSpan.FromSeconds(5),
        DefaultRequestHeaders = { ConnectionClose = true },
    };

    public IReadOnlyList<FaultRecord> Faults => [.. _faults.OrderBy(f => f.AtSeconds)];

    public Uri UrlOf(string service) => Find(service).Url;

    /// <summary>Returns once the service answers; after a crash, once its restarted process does.</summary>
    public Task WaitHealthyAsync(string service, CancellationToken ct = default) => Find(service).WaitHealthyAsync(ct);

    public async Task StartAsync(string role, IReadOnlyDictionary<string, string> options, int port, CancellationToken ct)
    {
        var service = new Service(this, role, options, port);
        _services.Add(service);
        await service.StartAsync(ct);
    }

    /// <summary>
    /// Arms a failpoint that kills the service and returns what came of it: <see cref="FaultOutcome.Injected"/> once the
    /// process has died at that failpoint and its successor answers, <see cref="FaultOutcome.NotTriggered"/> when the step
    /// was not reached within <paramref name="patience"/> (or the process died of something else first). The crash is
    /// judged by the process itself — its log's <c>FAILPOINT CRASH</c> line — never by what became of the arming call:
    /// under load the step can fire before the call's answer is read.
    /// </summary>
    public async Task<FaultOutcome> CrashAtAsync(string role, string failpoint, string spec, string stepRole, TimeSpan restartAfter, TimeSpan patience, CancellationToken ct)
    {
        var service = Find(role);
        await service.WaitHealthyAsync(ct);
        var crash = service.ExpectCrash(stepRole, failpoint, restartAfter);
        var armed = await service.ControlAsync(HttpMethod.Put, $"/failpoints/{failpoint}", spec, ct);
        if (armed.Answered && !armed.Succeeded)
        {
            service.CancelExpectation();
            throw new InvalidOperationException($"arming {failpoint} on {role} was refused: {(int)armed.Status!} {armed.Body}");
        }
        if (armed.Answered && await Task.WhenAny(crash, Task.Delay(patience, ct)) != crash)
        {
            // Not reached in time: disarm. The step may still fire while the disarming call is on its way, so only an
            // answer from the armed process saying it removed the failpoint proves it never fired.
            var disarmed = await service.ControlAsync(HttpMethod.Delete, $"/failpoints/{failpoint}", null, ct);
            if (disarmed.Answered && disarmed.Status == HttpStatusCode.NoContent && service.CancelExpectation())
            {
                _faults.Enqueue(new FaultRecord("crash", role, stepRole, _clock.Seconds, _clock.Seconds,
                    $"not triggered within {patience.TotalSeconds:0}s: the step was never reached", FaultOutcome.NotTriggered));
                return FaultOutcome.NotTriggered;
            }
        }
        // It fired (or the process died some other way): the watcher has seen the death, or is about to, and
        // resolves the expectation once the successor answers.
        var outcome = await crash.WaitAsync(restartAfter + HealthPatience + TimeSpan.FromSeconds(10), ct);
        if (outcome == FaultOutcome.NotTriggered)
            _faults.Enqueue(new FaultRecord("crash", role, stepRole, _clock.Seconds, _clock.Seconds,
                "not triggered: the process died of something else before the step was reached", FaultOutcome.NotTriggered));
        if (outcome == FaultOutcome.RestartFailed)
            throw new InvalidOperationException($"{_implementation} {role} did not come back after the crash at {stepRole}");
        return outcome;
    }

    /// <summary>Whether this implementation runs a service of that name (a pause of one it lacks is not applicable).</summary>
    public bool Has(string role) => _services.Any(s => s.Role == role);

    /// <summary>
    /// Stops the service's processes with SIGSTOP and lets them go on with SIGCONT after <paramref name="duration"/>:
    /// a stall like a long GC pause or a stuck host. Sockets stay open; peers see silence, not a closed connection.
    /// </summary>
    public async Task PauseAsync(string role, TimeSpan duration, CancellationToken ct)
    {
        var service = Find(role);
        await service.WaitHealthyAsync(ct);
        var at = _clock.Seconds;
        service.Signal(Signals.SIGSTOP);
        try
        {
            await Task.Delay(duration, ct);
        }
        finally
        {
            // Even when the run is cancelled: a stopped process ignores SIGTERM until it is continued.
            service.Signal(Signals.SIGCONT);
        }
        _faults.Enqueue(new FaultRecord("pause", role, null, at, _clock.Seconds));
    }

    /// <summary>Records a fault the nemesis made outside any service (a server crash).</summary>
    public void Record(FaultRecord fault) => _faults.Enqueue(fault);

    /// <summary>Heals: disarms every failpoint and waits until every service answers.</summary>
    public async Task HealAsync(CancellationToken ct)
    {
        foreach (var service in _services)
        {
            // A failpoint armed with a repeating trigger can kill the process between its health answer and the
            // disarming call; the restarted process has nothing armed, but it must answer before we go on.
            for (var attempt = 1; ; attempt++)
            {
                await service.WaitHealthyAsync(ct);
                var cleared = await service.ControlAsync(HttpMethod.Delete, "/failpoints", null, ct);
                if (cleared.Answered || attempt == 3) break;
            }
        }
    }

    /// <summary>Stops the services for good (no restarts from here on), politely first.</summary>
    public async Task StopAllAsync()
    {
        await _stopping.CancelAsync();
        foreach (var service in Enumerable.Reverse(_services)) await service.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAllAsync();
        _stopping.Dispose();
    }

    private Service Find(string role) =>
        _services.FirstOrDefault(s => s.Role == role) ?? throw new ArgumentException($"{_implementation} has no running service '{role}'");

    /// <summary>How a control request ended: answered with a status, or not answered because the process it was meant for died.</summary>
    private sealed record ControlReply(HttpStatusCode? Status, string Body)
    {
        public static readonly ControlReply ProcessDied = new(null, "");
        public bool Answered => Status is not null;
        public bool Succeeded => Status is { } status && (int)status is >= 200 and < 300;
    }

    private sealed class Service(Supervisor owner, string role, IReadOnlyDictionary<string, string> options, int port)
    {
        // How long a process whose control call failed may take to be seen dead before the failure counts as the network's.
        private static readonly TimeSpan DeathPatience = TimeSpan.FromSeconds(3);
        private const int ControlAttempts = 3;

        private ChildProcess? _process;
        private long _logOffset;
        private TaskCompletionSource _healthy = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Expectation? _expected;
        private int _launches;

        public string Role => role;
        public Uri Url { get; } = new($"http://127.0.0.1:{port}");
        private string LogPath => Path.Combine(owner._logDir, $"{owner._implementation}-{role}.log");

        public async Task StartAsync(CancellationToken ct)
        {
            await LaunchAsync(ct);
            _ = WatchAsync();
        }

        public Task WaitHealthyAsync(CancellationToken ct) => _healthy.Task.WaitAsync(ct);

        /// <summary>Completes with the crash's outcome once the process has died and its successor answers (or failed to).</summary>
        public Task<FaultOutcome> ExpectCrash(string stepRole, string failpoint, TimeSpan restartAfter)
        {
            var expectation = new Expectation(stepRole, failpoint, restartAfter);
            _expected = expectation;
            return expectation.Outcome.Task;
        }

        /// <summary>False when the watcher already took the expectation: the process died after all.</summary>
        public bool CancelExpectation() => Interlocked.Exchange(ref _expected, null) is not null;

        public void Signal(int signal) => _process?.Signal(signal);

        /// <summary>
        /// One control request to the process that runs now. A request can be overtaken by its own effect — a
        /// failpoint it armed fires and kills the process before the answer is written — so a request that fails is
        /// only tried again while that same process is alive; once it is dead the answer is <see cref="ControlReply.ProcessDied"/>,
        /// and whether the death was the fault is for the watcher to tell from the process's log.
        /// </summary>
        public async Task<ControlReply> ControlAsync(HttpMethod method, string path, string? body, CancellationToken ct)
        {
            var process = _process!;
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    using var request = new HttpRequestMessage(method, new Uri(Url, path));
                    if (body is not null) request.Content = new StringContent(body);
                    using var response = await Control.SendAsync(request, ct);
                    return new ControlReply(response.StatusCode, await response.Content.ReadAsStringAsync(ct));
                }
                catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
                {
                    if (await DiedAsync(process, ct)) return ControlReply.ProcessDied;
                    var why = e.Message + (e.InnerException is { } inner ? ": " + inner.Message : "");
                    if (attempt == ControlAttempts)
                        throw new InvalidOperationException($"{method} {path} on {owner._implementation} {role} failed {ControlAttempts} times although the process is alive: {why}", e);
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
            var settings = _launches++ == 0 ? options : options.Where(kv => kv.Key != "failpoints").ToDictionary();
            _logOffset = LogFile.Length(LogPath);
            _process = ServiceLauncher.Start(owner._implementation, role, settings, LogPath);
            var deadline = DateTime.UtcNow + HealthPatience;
            while (true)
            {
                if (_process.HasExited)
                    throw new InvalidOperationException($"{owner._implementation} {role} exited with code {await _process.Exited} while starting; see {LogPath}:{Environment.NewLine}{LogFile.Tail(LogPath, 15)}");
                try
                {
                    using var response = await Control.GetAsync(new Uri(Url, "/health"), ct);
                    if (response.IsSuccessStatusCode) break;
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"{owner._implementation} {role} did not answer on {Url} within {HealthPatience.TotalSeconds:0}s; see {LogPath}");
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
                // The process's own last words decide whether this was the planned crash: the failpoint writes its line
                // unbuffered just before the SIGKILL, while any other death (a bug, an OOM kill) leaves no such line.
                var atStep = expected is not null && FiredInLog(expected.Failpoint);
                var restartAfter = atStep ? expected!.RestartAfter : TimeSpan.FromSeconds(1);
                owner._say($"{owner._implementation} {role} died (exit {code}) at {diedAt:0.0}s{(atStep ? $" at {expected!.StepRole}" : ", unexpectedly")}; restarting in {restartAfter.TotalSeconds:0.#}s");
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
                    owner._faults.Enqueue(new FaultRecord("crash", role, atStep ? expected!.StepRole : null, diedAt, null,
                        $"restart failed: {e.Message}", FaultOutcome.RestartFailed));
                    expected?.Outcome.TrySetResult(FaultOutcome.RestartFailed);
                    // Nobody may wait for this service forever: every later wait fails with the reason.
                    _healthy.TrySetException(new InvalidOperationException($"{owner._implementation} {role} did not restart: {e.Message}", e));
                    return;
                }
                owner._faults.Enqueue(atStep
                    ? new FaultRecord("crash", role, expected!.StepRole, diedAt, owner._clock.Seconds)
                    : new FaultRecord("crash", role, null, diedAt, owner._clock.Seconds, $"unexpected exit (code {code})", FaultOutcome.UnexpectedExit));
                expected?.Outcome.TrySetResult(atStep ? FaultOutcome.Injected : FaultOutcome.NotTriggered);
            }
        }

        private bool FiredInLog(string failpoint) =>
            LogFile.ReadFrom(LogPath, _logOffset).Split('\n').Any(line => line.TrimEnd().EndsWith($"FAILPOINT CRASH {failpoint}", StringComparison.Ordinal));

        private sealed record Expectation(string StepRole, string Failpoint, TimeSpan RestartAfter)
        {
            public TaskCompletionSource<FaultOutcome> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
