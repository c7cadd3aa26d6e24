using Dtx.Harness.Checking;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Services;

namespace Dtx.Harness.Engine;

/// <summary>
/// Samples the system every <see cref="Interval"/> beside the load and the drain: the implementation's backlog (its own probe, the
/// one the drain waits on) and the CPU and memory of every process of the run, so that a report shows the system's
/// health on the same time axis as the faults. It only reads: no figure it takes feeds a verdict.
/// </summary>
public sealed class Sampler : IAsyncDisposable
{
    // Every two seconds: each probe opens fresh PostgreSQL connections (a backend forked for each) and an AMQP
    // connection, a cost on two cores that the implementations share; recoveries last several seconds.
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    // A probe against a paused or hanging server is given up after this; one still running is not started again, so a
    // fault cannot pile up probes (and their connections) on the server it stopped.
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    private readonly IImplementation _implementation;
    private readonly RunTarget _target;
    private readonly Supervisor _supervisor;
    private readonly RunServers _servers;
    private readonly RunClock _clock;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<HealthSample> _samples = [];
    private readonly Dictionary<string, (int Pid, double CpuSeconds, double At)> _last = [];
    private Task _running = Task.CompletedTask;

    private Sampler(IImplementation implementation, RunTarget target, Supervisor supervisor, RunServers servers, RunClock clock) =>
        (_implementation, _target, _supervisor, _servers, _clock) = (implementation, target, supervisor, servers, clock);

    /// <summary>The backlog of the newest sample that read one and when, for the progress lines; null before the first.</summary>
    public (InDoubt Backlog, double AtSeconds)? LatestBacklog { get; private set; }

    /// <summary>Starts sampling now, on the run's clock, until <see cref="StopAsync"/> or disposal.</summary>
    public static Sampler Start(IImplementation implementation, RunTarget target, Supervisor supervisor, RunServers servers, RunClock clock)
    {
        var sampler = new Sampler(implementation, target, supervisor, servers, clock);
        sampler._running = sampler.RunAsync(sampler._stop.Token);
        return sampler;
    }

    /// <summary>Stops sampling and returns every sample taken.</summary>
    public async Task<IReadOnlyList<HealthSample>> StopAsync()
    {
        await _stop.CancelAsync();
        await _running;
        return [.. _samples];
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Interval);
        Task<InDoubt?>? probe = null;
        try
        {
            do
            {
                var at = _clock.Seconds;
                var processes = ReadProcesses();
                InDoubt? backlog = null;
                // A probe still running from an earlier tick (a paused server) is left alone and its late answer dropped:
                // the backlog belongs to this tick only if it is read within it.
                if (probe is null || probe.IsCompleted)
                {
                    probe = ProbeAsync();
                    if (await Task.WhenAny(probe, Task.Delay(Interval * 0.8, ct)) == probe) backlog = await probe;
                }
                // Stopped while it waited: the backlog's null would be the stop's, not the system's.
                if (ct.IsCancellationRequested) break;
                _samples.Add(new HealthSample(Math.Round(at, 2), backlog, processes));
                if (backlog is not null) LatestBacklog = (backlog, at);
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task<InDoubt?> ProbeAsync()
    {
        using var timeout = new CancellationTokenSource(ProbeTimeout);
        try
        {
            return await _implementation.ProbeAsync(_target, timeout.Token);
        }
        catch (Exception)
        {
            // The database or the broker down, paused or cut: no backlog figure this second, which is what the
            // chart shows. Any failure here is one of those; the run's own probes judge, this one only draws.
            return null;
        }
    }

    private List<ProcessUse> ReadProcesses()
    {
        // Read at the tick, before the wait for the probe, so that the CPU figures cover the interval between two readings.
        var at = _clock.Seconds;
        var uses = new List<ProcessUse>();
        foreach (var (name, (pid, reading)) in ReadProcesses(_implementation, _supervisor, _servers))
        {
            double? cpu = _last.TryGetValue(name, out var last) && last.Pid == pid && at > last.At
                ? Math.Round(100 * Math.Max(0, reading.CpuSeconds - last.CpuSeconds) / (at - last.At), 1)
                : null;
            _last[name] = (pid, reading.CpuSeconds, at);
            uses.Add(new ProcessUse(name, cpu, Math.Round(reading.RssMiB, 1)));
        }
        return uses;
    }

    /// <summary>
    /// Every live process of a run by name, read from one listing of /proc: the implementation's services, the
    /// servers with their children (a PostgreSQL backend per connection, RabbitMQ's helpers), and the harness itself,
    /// which runs the load and the fault proxy. A process that is down, or a server the harness did not start, is left out.
    /// </summary>
    public static Dictionary<string, (int Pid, ProcessMeter.Reading Reading)> ReadProcesses(IImplementation implementation, Supervisor supervisor, RunServers servers)
    {
        List<(string Name, int? Pid, bool Tree)> processes =
        [
            .. implementation.Services.Select(service => (service, supervisor.ProcessIdOf(service), false)),
            ("postgres", servers.Postgres.ProcessId, true),
            ("rabbitmq", servers.Rabbit.ProcessId, true),
            ("harness", Environment.ProcessId, false),
        ];
        var readings = ProcessMeter.ReadMany([.. processes.Where(p => p.Pid is not null).Select(p => (p.Pid!.Value, p.Tree))]);
        return processes
            .Where(p => p.Pid is { } pid && readings.ContainsKey(pid))
            .ToDictionary(p => p.Name, p => (p.Pid!.Value, readings[p.Pid!.Value]));
    }
}
