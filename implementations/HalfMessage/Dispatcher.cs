using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Messaging;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Dtx.HalfMessage;

/// <summary>
/// Makes committed half messages visible: publishes them to their real queue in RabbitMQ. The txbroker's
/// counterpart of LocalTable's Relay, fed by two paths:
/// <list type="number">
/// <item>the hand-off: right after a commit (by the producer or by a check-back answer) the txId is passed in
///   memory, so a committed message normally leaves within milliseconds;</item>
/// <item>the polling fallback: every poll interval it claims committed rows that are not yet dispatched — their
///   hand-off was lost to a crash right after the commit, dropped because the channel was full, or their
///   publish failed and was released.</item>
/// </list>
/// A row is marked dispatched only after RabbitMQ's confirm. A crash between the confirm and the mark (the
/// <c>relay.after-publish</c> step) publishes it again once the lease ends: at least once, always with the
/// txId as message id, so that the consumer dedupes. RocketMQ has the same window between writing the real
/// topic and its batched op record, but nothing there marks the duplicate as one (research/rocketmq.md §1.6).
/// </summary>
public sealed class Dispatcher(NpgsqlDataSource db, Failpoints failpoints, TxBroker.Settings settings, ILogger<Dispatcher> log)
{
    public const string AfterPublish = "relay.after-publish";

    private const int BatchSize = 100;
    private static readonly TimeSpan FailedPublishBackoff = TimeSpan.FromSeconds(1);

    // Bounded so that a broker outage cannot grow memory without limit; a dropped id is not lost, the poller finds its row.
    private readonly Channel<string> _handOff = Channel.CreateBounded<string>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly SemaphoreSlim _publisherLock = new(1, 1);
    private readonly ConcurrentDictionary<string, bool> _declaredQueues = new(StringComparer.Ordinal);
    private AmqpConnection? _amqp;
    private ConfirmingPublisher? _publisher;

    /// <summary>Called after the commit has been stored; never before, so only a durable commit is ever handed on.</summary>
    public void HandOff(string txId) => _handOff.Writer.TryWrite(txId);

    public async Task StartAsync(AmqpConnection amqp, CancellationToken stopping)
    {
        _amqp = amqp;
        _publisher = await amqp.CreatePublisherAsync(stopping);
        _ = Task.Run(() => HandOffLoopAsync(stopping), stopping);
        _ = Task.Run(() => PollLoopAsync(stopping), stopping);
    }

    private async Task HandOffLoopAsync(CancellationToken stopping)
    {
        var txIds = new List<string>(BatchSize);
        while (await _handOff.Reader.WaitToReadAsync(stopping))
        {
            txIds.Clear();
            while (txIds.Count < BatchSize && _handOff.Reader.TryRead(out var txId)) txIds.Add(txId);
            await RunPassAsync([.. txIds], stopping);
        }
    }

    private async Task PollLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var claimed = await RunPassAsync(null, stopping);
            if (claimed > 0) log.LogInformation("polling dispatcher claimed {Count} committed message(s)", claimed);
            // A full batch means more may be due: go again at once instead of waiting out the interval.
            if (claimed < BatchSize) await Task.Delay(settings.PollInterval, stopping);
        }
    }

    /// <summary>Claims rows (the given ones, or any due), publishes them concurrently, returns how many it claimed.</summary>
    private async Task<int> RunPassAsync(string[]? txIds, CancellationToken stopping)
    {
        try
        {
            var claimed = await TxBrokerStore.ClaimDispatchesAsync(db, txIds, BatchSize, settings.Lease, stopping);
            await Task.WhenAll(claimed.Select(dispatch => PublishAsync(dispatch, stopping)));
            return claimed.Count;
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            // The database is down or restarting: the rows stay committed and undispatched, and the next pass tries again.
            log.LogWarning("dispatch pass failed: {Error}", e.Message);
            await Task.Delay(settings.PollInterval, stopping);
            return 0;
        }
    }

    private async Task PublishAsync(TxBrokerStore.Dispatch dispatch, CancellationToken stopping)
    {
        try
        {
            await DeclareOnceAsync(dispatch.Queue, stopping);
            var publisher = await PublisherAsync(stopping);
            // The txId is the message id: every copy of one transaction's message carries the same one.
            await publisher.PublishAsync(dispatch.Queue, dispatch.TxId, Encoding.UTF8.GetBytes(dispatch.Payload), stopping);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            log.LogWarning("dispatch of {TxId} to {Queue} failed: {Error}; it will be retried", dispatch.TxId, dispatch.Queue, e.Message);
            await TxBrokerStore.ReleaseDispatchAsync(db, dispatch.TxId, FailedPublishBackoff, stopping);
            return;
        }
        if (dispatch.Attempt > 1) log.LogInformation("redispatched {TxId} (attempt {Attempt})", dispatch.TxId, dispatch.Attempt);
        await TxBrokerStore.LogPublishAsync(db, dispatch.TxId, stopping);
        await failpoints.HitAsync(AfterPublish, stopping);
        await TxBrokerStore.MarkDispatchedAsync(db, dispatch.TxId, stopping);
    }

    /// <summary>
    /// Declares the destination queue (durable) before the first publish to it. The producer's side owns its
    /// queues; declaring the same durable queue again is a no-op for RabbitMQ, and spares a message committed
    /// before any consumer started from bouncing off <c>mandatory</c> until one does.
    /// </summary>
    private async Task DeclareOnceAsync(string queue, CancellationToken stopping)
    {
        if (_declaredQueues.ContainsKey(queue)) return;
        await _amqp!.DeclareQueuesAsync(stopping, queue);
        _declaredQueues.TryAdd(queue, true);
    }

    /// <summary>The publisher channel, opened again if the broker closed it (recovery restores channels, but not one the broker shut for an error).</summary>
    private async Task<ConfirmingPublisher> PublisherAsync(CancellationToken stopping)
    {
        if (_publisher is { IsOpen: true } open) return open;
        await _publisherLock.WaitAsync(stopping);
        try
        {
            if (_publisher is { IsOpen: true } reopened) return reopened;
            if (_publisher is not null) await _publisher.DisposeAsync();
            _publisher = await _amqp!.CreatePublisherAsync(stopping);
            return _publisher;
        }
        finally
        {
            _publisherLock.Release();
        }
    }
}
