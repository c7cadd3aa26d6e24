using System.Collections.Concurrent;
using Dtx.Harness.Infrastructure;

namespace Dtx.Harness.Services;

/// <summary>
/// Keeps an implementation's services running: starts them in order, waits until each answers, and restarts
/// one that dies after its restart delay, recording the window as a fault. An exit nobody asked for (a bug, an
/// out-of-memory kill) is restarted and recorded too, marked unexpected, so it cannot pass unnoticed.
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

    /// <summary>Arms a failpoint that kills the service, and returns when it has died and been restarted (or the time ran out).</summary>
    public async Task CrashAtAsync(string role, string failpoint, string spec, string stepRole, TimeSpan restartAfter, TimeSpan patience, CancellationToken ct)
    {
        var service = Find(role);
        await service.WaitHealthyAsync(ct);
        var crash = service.ExpectCrash(stepRole, restartAfter);
        await ArmAsync(role, failpoint, spec, ct);
        if (await Task.WhenAny(crash, Task.Delay(patience, ct)) == crash)
        {
            await crash;
            return;
        }
        service.CancelExpectation();
        await DisarmAsync(role, failpoint, ct);
        _faults.Enqueue(new FaultRecord("crash", role, stepRole, _clock.Seconds, _clock.Seconds, $"not triggered within {patience.TotalSeconds:0}s: the step was never reached"));
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

    public async Task ArmAsync(string role, string failpoint, string spec, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var response = await Control.PutAsync(new Uri(Find(role).Url, $"/failpoints/{failpoint}"), new StringContent(spec), ct);
                if (!response.IsSuccessStatusCode)
                    throw new InvalidOperationException($"arming {failpoint} on {role} failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
                return;
            }
            catch (HttpRequestException e) when (attempt < 3)
            {
                // Said, not swallowed: a control request to a healthy service should not fail, and when it does the
                // run's log must show it. Arming twice is harmless: the same spec replaces itself.
                _say($"arming {failpoint} on {role} failed ({e.Message}{(e.InnerException is { } inner ? ": " + inner.Message : "")}); trying again");
                await Task.Delay(200, ct);
            }
        }
    }

    private async Task DisarmAsync(string role, string failpoint, CancellationToken ct)
    {
        using var _ = await Control.DeleteAsync(new Uri(Find(role).Url, $"/failpoints/{failpoint}"), ct);
    }

    /// <summary>Heals: disarms every failpoint and waits until every service answers.</summary>
    public async Task HealAsync(CancellationToken ct)
    {
        foreach (var service in _services)
        {
            await service.WaitHealthyAsync(ct);
            using var _ = await Control.DeleteAsync(new Uri(service.Url, "/failpoints"), ct);
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

    private sealed class Service(Supervisor owner, string role, IReadOnlyDictionary<string, string> options, int port)
    {
        private ChildProcess? _process;
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

        public Task ExpectCrash(string stepRole, TimeSpan restartAfter)
        {
            var expectation = new Expectation(stepRole, restartAfter);
            _expected = expectation;
            return expectation.Restarted.Task;
        }

        public void CancelExpectation() => _expected = null;

        public void Signal(int signal) => _process?.Signal(signal);

        public async Task StopAsync()
        {
            if (_process is { } process) await process.StopAsync(TimeSpan.FromSeconds(5));
        }

        private async Task LaunchAsync(CancellationToken ct)
        {
            // Failpoints given at start-up arm the first process only: re-arming them in every restarted process
            // would turn one crash into a crash loop on the message that is redelivered to it.
            var settings = _launches++ == 0 ? options : options.Where(kv => kv.Key != "failpoints").ToDictionary();
            _process = ServiceLauncher.Start(owner._implementation, role, settings, LogPath);
            var deadline = DateTime.UtcNow + HealthPatience;
            while (true)
            {
                if (_process.HasExited)
                    throw new InvalidOperationException($"{owner._implementation} {role} exited with code {await _process.Exited} while starting; see {LogPath}:{Environment.NewLine}{Tail(LogPath)}");
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
                var restartAfter = expected?.RestartAfter ?? TimeSpan.FromSeconds(1);
                owner._say($"{owner._implementation} {role} died (exit {code}) at {diedAt:0.0}s{(expected is null ? ", unexpectedly" : $" at {expected.StepRole}")}; restarting in {restartAfter.TotalSeconds:0.#}s");
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
                    owner._faults.Enqueue(new FaultRecord("crash", role, expected?.StepRole, diedAt, null, $"restart failed: {e.Message}"));
                    expected?.Restarted.TrySetException(e);
                    return;
                }
                owner._faults.Enqueue(new FaultRecord("crash", role, expected?.StepRole, diedAt, owner._clock.Seconds,
                    expected is null ? $"unexpected exit (code {code})" : null));
                expected?.Restarted.TrySetResult();
            }
        }

        private static string Tail(string path) =>
            File.Exists(path) ? string.Join(Environment.NewLine, File.ReadLines(path).TakeLast(15)) : "(no log)";

        private sealed record Expectation(string StepRole, TimeSpan RestartAfter)
        {
            public TaskCompletionSource Restarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
