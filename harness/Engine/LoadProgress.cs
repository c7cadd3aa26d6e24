using Dtx.Harness.Load;
using Dtx.Harness.Services;

namespace Dtx.Harness.Engine;

/// <summary>
/// Where a run's progress goes, and how often: <see cref="Show"/> takes the line of the phase under way (null when the
/// phase is over). On a terminal it is one status line rewritten every second; in a log, a plain line every 5 s.
/// </summary>
public sealed record ProgressSink(Action<string?> Show, TimeSpan Every)
{
    /// <summary>Plain lines every five seconds through <paramref name="say"/>: a log, a test's output.</summary>
    public static ProgressSink Lines(Action<string> say) => new(line => { if (line is not null) say(line); }, TimeSpan.FromSeconds(5));
}

/// <summary>
/// The load's progress while it runs: the requests so far and their answers, the ok answers per second since the
/// last line, and the newest backlog the sampler read. A user watching a run of a minute sees it move, and a CI log
/// shows where a run that stalled stopped; the fault lines of the nemesis fall between them.
/// </summary>
public sealed class LoadProgress : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _running;
    private readonly ProgressSink _sink;

    private LoadProgress(HistoryRecorder history, Sampler sampler, RunClock clock, TimeSpan loadDuration, ProgressSink sink)
    {
        _sink = sink;
        _running = RunAsync(history, sampler, clock, loadDuration, sink, _stop.Token);
    }

    public static LoadProgress Start(HistoryRecorder history, Sampler sampler, RunClock clock, TimeSpan loadDuration, ProgressSink sink) =>
        new(history, sampler, clock, loadDuration, sink);

    private static async Task RunAsync(HistoryRecorder history, Sampler sampler, RunClock clock, TimeSpan loadDuration, ProgressSink sink, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(sink.Every);
        var (lastOk, lastAt) = (0, 0.0);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var (requested, ok, failed, indeterminate) = history.Tally();
                var at = clock.Seconds;
                var rate = at > lastAt ? (ok - lastOk) / (at - lastAt) : 0;
                (lastOk, lastAt) = (ok, at);
                // A paused or cut server leaves the newest backlog old: its time is said rather than pass it off as now.
                var backlog = sampler.LatestBacklog is { } b
                    ? (at - b.AtSeconds > Sampler.Interval.TotalSeconds * 1.5 ? $"; backlog (as read at {b.AtSeconds:0}s): " : "; backlog: ") + b.Backlog.Describe()
                    : "";
                sink.Show($"load {Math.Min(at, loadDuration.TotalSeconds):0}s of {loadDuration.TotalSeconds:0}s: {requested} requested, {ok} ok, {failed} failed, " +
                    $"{indeterminate} indeterminate, {rate:0.#} ok/s{backlog}");
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running;
        _stop.Dispose();
        _sink.Show(null);
    }
}
