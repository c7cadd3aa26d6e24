using System.Collections.Concurrent;
using System.Text;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Dtx.Shared.Mutants;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Dtx.HalfMessage;

/// <summary>
/// Makes committed half messages visible: publishes them to their real queue in RabbitMQ. The txbroker's
/// counterpart of LocalTable's Relay, fed the same way (<see cref="HandOffAndPoll{TKey}"/>): the txId is handed
/// off right after a commit (by the producer or by a check-back answer), and a poller finds committed rows whose
/// hand-off was lost to a crash, dropped, or whose publish failed and was released.
/// A row is marked dispatched only after RabbitMQ's confirm. A crash between the confirm and the mark (the
/// <c>relay.after-publish</c> step) publishes it again once the lease ends: at least once, always with the
/// txId as message id, so that the consumer dedupes. RocketMQ has the same window between writing the real
/// topic and its batched op record, but nothing there marks the duplicate as one.
/// </summary>
public sealed class Dispatcher
{
    public const string AfterPublish = StepRoles.RelayAfterPublish;

    private static readonly TimeSpan FailedPublishBackoff = TimeSpan.FromSeconds(1);
    private readonly NpgsqlDataSource _db;
    private readonly Failpoints _failpoints;
    private readonly TxBroker.Settings _settings;
    private readonly ILogger<Dispatcher> _log;
    private readonly HandOffAndPoll<string> _feed;
    private readonly ConcurrentDictionary<string, bool> _declaredQueues = new(StringComparer.Ordinal);
    // Safeguards a mutant run switches off (MutantCatalog.cs); false in every real run.
    private readonly bool _dispatchBeforeCommit, _newMessageIdPerDispatch;
    private AmqpConnection? _amqp;
    private ReopeningPublisher? _publisher;

    public Dispatcher(NpgsqlDataSource db, Failpoints failpoints, TxBroker.Settings settings, ServiceOptions options, ILogger<Dispatcher> log)
    {
        (_db, _failpoints, _settings, _log) = (db, failpoints, settings, log);
        _dispatchBeforeCommit = options.IsMutant(MutantCatalog.DispatchBeforeCommit);
        _newMessageIdPerDispatch = options.IsMutant(MutantCatalog.NewMessageIdPerDispatch);
        _feed = new HandOffAndPoll<string>("dispatcher", RunPassAsync, settings.PollInterval, log);
    }

    /// <summary>Called after the commit has been stored; never before, so only a durable commit is ever handed on.</summary>
    public void HandOff(string txId) => _feed.HandOff(txId);

    /// <summary>Called after a half message is stored; hands it on only in the dispatch-before-commit mutant.</summary>
    public void Prepared(string txId)
    {
        if (_dispatchBeforeCommit) _feed.HandOff(txId);
    }

    public Task StartAsync(AmqpConnection amqp, CancellationToken stopping)
    {
        _amqp = amqp;
        _publisher = new ReopeningPublisher(amqp);
        _feed.Start(stopping);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Claims committed, undispatched rows (the given ones, or any due), publishes them concurrently, then logs and
    /// marks the confirmed ones with one statement each for the whole batch.
    /// </summary>
    private async Task<int> RunPassAsync(string[]? txIds, CancellationToken stopping)
    {
        var claimed = await TxBrokerStore.ClaimDispatchesAsync(_db, txIds, HandOffAndPoll<string>.BatchSize, _settings.Lease, stopping,
            includePrepared: _dispatchBeforeCommit);
        var confirmed = await Task.WhenAll(claimed.Select(dispatch => PublishAsync(dispatch, stopping)));
        var published = claimed.Where((_, i) => confirmed[i]).Select(dispatch => dispatch.TxId).ToList();
        if (published.Count == 0) return claimed.Count;
        await TxBrokerStore.LogPublishAsync(_db, published, stopping);
        foreach (var _ in published) await _failpoints.HitAsync(AfterPublish, stopping);
        await TxBrokerStore.MarkDispatchedAsync(_db, published, stopping);
        return claimed.Count;
    }

    /// <summary>True when RabbitMQ confirmed the message; false when the publish failed and the row was given back.</summary>
    private async Task<bool> PublishAsync(TxBrokerStore.Dispatch dispatch, CancellationToken stopping)
    {
        try
        {
            await DeclareOnceAsync(dispatch.Queue, stopping);
            var publisher = await _publisher!.GetAsync(stopping);
            // The txId is the message id: every copy of one transaction's message carries the same one.
            var messageId = _newMessageIdPerDispatch ? Guid.NewGuid().ToString() : dispatch.TxId;
            await publisher.PublishAsync(dispatch.Queue, messageId, Encoding.UTF8.GetBytes(dispatch.Payload), stopping);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            _log.LogWarning("dispatch of {TxId} to {Queue} failed: {Error}; it will be retried", dispatch.TxId, dispatch.Queue, e.Message);
            try
            {
                await TxBrokerStore.ReleaseDispatchAsync(_db, dispatch.TxId, FailedPublishBackoff, stopping);
            }
            catch (Exception releaseError) when (!stopping.IsCancellationRequested)
            {
                // The row stays leased and comes due when the lease ends; the batch's confirmed messages must still be logged and marked.
                _log.LogWarning("release of {TxId} failed: {Error}; it is retried when its lease ends", dispatch.TxId, releaseError.Message);
            }
            return false;
        }
        if (dispatch.Attempt > 1) _log.LogInformation("redispatched {TxId} (attempt {Attempt})", dispatch.TxId, dispatch.Attempt);
        return true;
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
}
