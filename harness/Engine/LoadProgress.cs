using Dtx.Harness.Load;
using Dtx.Harness.Services;

namespace Dtx.Harness.Engine;

/// <summary>
/// A line every <see cref="Interval"/> while the load runs: the requests so far and their answers, the ok answers per
/// second since the last line, and the newest backlog the sampler read. A user watching a run of a minute sees it
/// move, and a CI log shows where a run that stalled stopped; the fault lines of the nemesis fall between them.
/// </summary>
public sealed class LoadProgress : IAsyncDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _running;

    private LoadProgress(HistoryRecorder history, Sampler sampler, RunClock clock, TimeSpan loadDuration, Action<string> say) =>
        _running = RunAsync(history, sampler, clock, loadDuration, say, _stop.Token);

    public static LoadProgress Start(HistoryRecorder history, Sampler sampler, RunClock clock, TimeSpan loadDuration, Action<string> say) =>
        new(history, sampler, clock, loadDuration, say);

    private static async Task RunAsync(HistoryRecorder history, Sampler sampler, RunClock clock, TimeSpan loadDuration, Action<string> say, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Interval);
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
                say($"load {Math.Min(at, loadDuration.TotalSeconds):0}s of {loadDuration.TotalSeconds:0}s: {requested} requested, {ok} ok, {failed} failed, " +
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
    }
}
