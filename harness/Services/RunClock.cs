using System.Diagnostics;

namespace Dtx.Harness.Services;

/// <summary>Seconds since the load started: the one time axis of a run's history, faults and charts.</summary>
public sealed class RunClock
{
    private readonly Stopwatch _watch = new();

    public void Start() => _watch.Restart();

    public double Seconds => _watch.Elapsed.TotalSeconds;

    public TimeSpan Elapsed => _watch.Elapsed;
}
