using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Dtx.Shared.Failpoints;

/// <summary>Thrown by an armed failpoint whose action is <c>error</c>: the step fails as if its I/O had failed.</summary>
public sealed class FailpointException(string name) : Exception($"failpoint {name} injected an error");

/// <summary>
/// The named steps of one service. Each protocol step calls <see cref="HitAsync"/> with its step role's name (each
/// implementation README's sequence diagram is labelled with them); the harness arms them from outside through the
/// service's control endpoint. Unarmed, a hit costs one dictionary lookup and a counter increment.
/// </summary>
public sealed class Failpoints(ILogger<Failpoints> log)
{
    private readonly ConcurrentDictionary<string, Armed> _armed = new();
    private readonly ConcurrentDictionary<string, long> _hits = new();
    // How often each one fired: the harness's evidence that a delay, error or pause it armed did something.
    private readonly ConcurrentDictionary<string, long> _fired = new();
    private readonly HashSet<string> _declared = [];

    /// <summary>The names this service has, so that arming a misspelt one is refused instead of silently never firing.</summary>
    public IReadOnlyCollection<string> Declared => _declared;

    public void Declare(params string[] names)
    {
        foreach (var name in names) _declared.Add(name);
    }

    /// <summary>Throws <see cref="KeyNotFoundException"/> naming the failpoints there are, unless this one is declared.</summary>
    public void EnsureDeclared(string name)
    {
        if (!_declared.Contains(name))
            throw new KeyNotFoundException($"this service has no failpoint '{name}'; it has: {string.Join(", ", _declared.Order())}");
    }

    public void Arm(string name, FailpointSpec spec)
    {
        EnsureDeclared(name);
        _armed[name] = new Armed(spec);
        log.LogInformation("failpoint {Name} armed: {Spec}", name, spec);
    }

    public bool Disarm(string name) => _armed.TryRemove(name, out _);

    public void DisarmAll() => _armed.Clear();

    public IReadOnlyDictionary<string, object> Describe() => _declared.Order().ToDictionary(
        name => name,
        name => (object)new
        {
            armed = _armed.TryGetValue(name, out var a) ? a.Spec.ToString() : null,
            hits = _hits.GetValueOrDefault(name),
            fired = _fired.GetValueOrDefault(name),
        });

    public ValueTask HitAsync(string name, CancellationToken ct = default)
    {
        Debug.Assert(_declared.Contains(name), $"undeclared failpoint {name}");
        _hits.AddOrUpdate(name, 1, (_, n) => n + 1);
        if (!_armed.TryGetValue(name, out var armed) || !armed.Fires()) return ValueTask.CompletedTask;
        if (armed.Spec.FiresOnce) _armed.TryRemove(new(name, armed));
        _fired.AddOrUpdate(name, 1, (_, n) => n + 1);
        return ExecuteAsync(name, armed.Spec, ct);
    }

    private async ValueTask ExecuteAsync(string name, FailpointSpec spec, CancellationToken ct)
    {
        switch (spec.Action)
        {
            case FailpointAction.Crash:
                // Written to stdout straight away so that the harness's log shows which step killed the process;
                // a logger may still buffer it when the SIGKILL lands.
                Console.Out.WriteLine($"FAILPOINT CRASH {name}");
                Console.Out.Flush();
                Process.GetCurrentProcess().Kill(); // SIGKILL on Linux: no finally blocks, no graceful shutdown, like a power cut of the process.
                await Task.Delay(Timeout.Infinite, ct);
                break;
            case FailpointAction.Delay:
            case FailpointAction.Pause:
                log.LogWarning("failpoint {Name}: {Action} {Duration}", name, spec.Action, spec.Duration);
                await Task.Delay(spec.Duration, ct);
                break;
            case FailpointAction.Error:
                log.LogWarning("failpoint {Name}: error", name);
                throw new FailpointException(name);
        }
    }

    private sealed class Armed(FailpointSpec spec)
    {
        private readonly Random _random = new(spec.Seed);
        private long _hits;
        public FailpointSpec Spec { get; } = spec;

        public bool Fires()
        {
            var hit = Interlocked.Increment(ref _hits);
            return Spec.Trigger switch
            {
                // Two requests can reach a once-armed point together; only the first may fire.
                FailpointTrigger.Once => hit == 1,
                FailpointTrigger.Nth => hit == Spec.Every,
                FailpointTrigger.Always => true,
                FailpointTrigger.EveryNth => hit % Spec.Every == 0,
                _ => Draw() < Spec.Probability,
            };
        }

        private double Draw()
        {
            lock (_random) return _random.NextDouble();
        }
    }
}
