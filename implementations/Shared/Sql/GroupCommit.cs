using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Dtx.Shared.Sql;

/// <summary>
/// Group commit: the items that arrive while one group is being committed wait, and are committed together as the
/// next group, in one local transaction. Nothing waits for a group to fill, so a lone item goes at once and groups
/// grow only with the load; under load a commit per item was most of what a consumer or txbroker's store cost.
/// Used by the consumers (<c>AmqpConnection.ConsumeInBatchesAsync</c>). (Tried for txbroker's prepares and commits too:
/// groups of about two at 300 orders/s, and no change in half-message's sustained rate, so txbroker writes one by one.)
/// </summary>
/// <remarks>
/// The caller answers for its item only after <see cref="CommitAsync"/> returned true: its group has committed. When a
/// group throws, every item in it gets false and the caller applies it alone, so that one bad item (a poison message)
/// fails by itself instead of failing the items that happened to arrive with it.
/// </remarks>
public sealed class GroupCommit<T>(string name, Func<IReadOnlyList<T>, CancellationToken, Task> commitGroup, int maxGroup, ILogger log)
{
    private readonly Channel<(T Item, TaskCompletionSource<bool> Committed)> _waiting =
        Channel.CreateUnbounded<(T, TaskCompletionSource<bool>)>(new UnboundedChannelOptions { SingleReader = true });

    // Not Task.Run(..., stopping): with a token already cancelled the loop would never run, and never release anyone.
    public void Start(CancellationToken stopping) => _ = Task.Run(() => RunAsync(stopping));

    /// <summary>True once the item's group has committed; false when the group failed and the item must be applied alone.</summary>
    public Task<bool> CommitAsync(T item)
    {
        var committed = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_waiting.Writer.TryWrite((item, committed))) committed.TrySetCanceled();
        return committed.Task;
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var group = new List<(T Item, TaskCompletionSource<bool> Committed)>(maxGroup);
        try
        {
            while (await _waiting.Reader.WaitToReadAsync(stopping))
            {
                group.Clear();
                while (group.Count < maxGroup && _waiting.Reader.TryRead(out var next)) group.Add(next);
                bool committed;
                try
                {
                    await commitGroup([.. group.Select(g => g.Item)], stopping);
                    committed = true;
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    log.LogWarning("a group of {Count} ({Name}) failed: {Error}; each is applied alone", group.Count, name, e.Message);
                    committed = false;
                }
                foreach (var g in group) g.Committed.TrySetResult(committed);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        finally
        {
            // Stopping: whoever still waits gives up without an answer (a consumer leaves its delivery unacked, and
            // RabbitMQ redelivers it; an HTTP caller gets no reply, as from a process that died).
            _waiting.Writer.TryComplete();
            foreach (var g in group) g.Committed.TrySetCanceled(stopping);
            while (_waiting.Reader.TryRead(out var left)) left.Committed.TrySetCanceled(stopping);
        }
    }
}
