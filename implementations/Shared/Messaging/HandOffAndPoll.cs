using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Dtx.Shared.Messaging;

/// <summary>
/// The two ways work reaches a relay (LocalTable's outbox relay, txbroker's dispatcher):
/// <list type="number">
/// <item>the hand-off: right after a commit the writer passes the new row's key in memory, so a message normally
///   leaves within milliseconds — every mature outbox sends straight after commit, polling alone is slow;</item>
/// <item>the polling fallback: every interval a pass over whatever is due — rows whose hand-off died with the
///   process, was dropped because the channel was full, or whose publish failed and was released.</item>
/// </list>
/// A pass is the relay's own: it claims (the given keys, or any due when given null), publishes, and returns how
/// many it claimed. A pass that throws — the database restarting — is logged and simply tried again later.
/// </summary>
public sealed class HandOffAndPoll<TKey>(string name, Func<TKey[]?, CancellationToken, Task<int>> pass, TimeSpan pollInterval, ILogger log)
{
    public const int BatchSize = 100;

    // Bounded so that a broker outage cannot grow memory without limit; a dropped key is not lost, the poller finds its row.
    private readonly Channel<TKey> _handOff = Channel.CreateBounded<TKey>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Call only after the row's transaction has committed, so that only durable work is ever handed on.</summary>
    public void HandOff(TKey key) => _handOff.Writer.TryWrite(key);

    public void Start(CancellationToken stopping)
    {
        _ = Task.Run(() => HandOffLoopAsync(stopping), stopping);
        _ = Task.Run(() => PollLoopAsync(stopping), stopping);
    }

    private async Task HandOffLoopAsync(CancellationToken stopping)
    {
        var keys = new List<TKey>(BatchSize);
        while (await _handOff.Reader.WaitToReadAsync(stopping))
        {
            keys.Clear();
            while (keys.Count < BatchSize && _handOff.Reader.TryRead(out var key)) keys.Add(key);
            await RunPassAsync([.. keys], stopping);
        }
    }

    private async Task PollLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var claimed = await RunPassAsync(null, stopping);
            if (claimed > 0) log.LogInformation("polling {Name} claimed {Count} due row(s)", name, claimed);
            // A full batch means more may be due: go again at once instead of waiting out the interval.
            if (claimed < BatchSize) await Task.Delay(pollInterval, stopping);
        }
    }

    private async Task<int> RunPassAsync(TKey[]? keys, CancellationToken stopping)
    {
        try
        {
            return await pass(keys, stopping);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            // The database is down or restarting: the rows stay where they are, and the next pass tries again.
            log.LogWarning("{Name} pass failed: {Error}", name, e.Message);
            await Task.Delay(pollInterval, stopping);
            return 0;
        }
    }
}
