using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Microsoft.Extensions.Logging;

namespace Dtx.Shared.Messaging;

/// <summary>
/// One AMQP connection per service process, with the client's automatic recovery on: after a broker restart the
/// connection, its channels and their consumers come back by themselves. What recovery cannot give back — a
/// publish in flight, an unacked delivery — the protocols handle: the relay republishes, the inbox dedupes.
/// </summary>
public sealed class AmqpConnection : IAsyncDisposable
{
    private readonly ILogger _log;

    private AmqpConnection(IConnection connection, ILogger log)
    {
        Connection = connection;
        _log = log;
    }

    public IConnection Connection { get; }

    /// <summary>How often client and broker check each other: a connection silent for two of these is closed, and its unacked deliveries requeued.</summary>
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(10);

    /// <summary>Connects, retrying while the broker is down (it may be restarting too), for at most <paramref name="patience"/>.</summary>
    public static async Task<AmqpConnection> ConnectAsync(string uri, string clientName, ILogger log, TimeSpan patience, CancellationToken ct)
    {
        var factory = new ConnectionFactory
        {
            Uri = new Uri(uri),
            ClientProvidedName = clientName,
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(1),
            RequestedHeartbeat = Heartbeat,
        };
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            try
            {
                return new AmqpConnection(await factory.CreateConnectionAsync(ct), log);
            }
            catch (Exception e) when (e is not OperationCanceledException && DateTime.UtcNow < deadline)
            {
                log.LogWarning("AMQP connect failed ({Error}); retrying", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            }
        }
    }

    /// <summary>Durable, so that a broker restart keeps the queue and its persistent messages.</summary>
    public async Task DeclareQueuesAsync(CancellationToken ct, params string[] queues)
    {
        await using var channel = await Connection.CreateChannelAsync(cancellationToken: ct);
        foreach (var queue in queues)
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: ct);
    }

    public async Task<ConfirmingPublisher> CreatePublisherAsync(CancellationToken ct) =>
        new(await Connection.CreateChannelAsync(ConfirmingPublisher.NewChannelOptions(), ct));

    /// <summary>How often a poison delivery is tried before it is parked, and the first back-off (doubled each time).</summary>
    public const int PoisonAttempts = 5;
    private static readonly TimeSpan PoisonBackoff = TimeSpan.FromMilliseconds(200);
    // Capped: the count keeps growing while parking fails (the database is down), and an uncapped back-off would hold
    // the delivery and a consumer slot past any drain deadline.
    private static readonly TimeSpan MaxPoisonBackoff = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Consumes with manual acks: a delivery is acked only after <paramref name="handle"/> returned (its effects are
    /// committed), and put back for another try when it threw. A <see cref="PoisonMessageException"/> is tried
    /// <see cref="PoisonAttempts"/> times with a growing back-off, then handed to <paramref name="park"/> and acked,
    /// so a message that can never be applied neither circulates forever nor holds back the ones behind it. Any
    /// other failure (a database or txbroker that is down) may pass, and is retried for as long as it takes.
    /// </summary>
    public async Task ConsumeAsync(string queue, ushort prefetch, ushort concurrency,
        Func<BasicDeliverEventArgs, CancellationToken, Task> handle, CancellationToken stopping,
        Func<BasicDeliverEventArgs, PoisonMessageException, PoisonTries, CancellationToken, Task>? park = null)
    {
        var channel = await Connection.CreateChannelAsync(new CreateChannelOptions(false, false, consumerDispatchConcurrency: concurrency), stopping);
        await channel.BasicQosAsync(0, prefetch, false, stopping);
        var settle = new Settlement(channel, queue, park, _log, stopping);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => settle.ApplyAsync(delivery, () => handle(delivery, stopping));
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer, stopping);
    }

    /// <summary>
    /// Consumes like <see cref="ConsumeAsync"/>, with the same acks, retries and parking, but applies the deliveries
    /// that are waiting together, up to <paramref name="maxBatch"/> in one call of <paramref name="applyBatch"/> (one
    /// local transaction instead of one per message: a commit each was most of what a consumer cost), which returns
    /// what it did for each delivery, in order. Then, for each delivery in its own handler, <paramref name="afterCommit"/>
    /// (the step after the commit: its failpoint, the reply's hand-off), then its ack. When a batch throws, each of its
    /// deliveries is applied alone, as a batch of one, so that a poison message is tried, counted and parked by itself
    /// instead of holding back the batch it arrived in.
    /// </summary>
    public async Task ConsumeInBatchesAsync<TApplied>(string queue, ushort maxBatch,
        Func<IReadOnlyList<BasicDeliverEventArgs>, CancellationToken, Task<IReadOnlyList<TApplied>>> applyBatch,
        Func<BasicDeliverEventArgs, TApplied, CancellationToken, Task> afterCommit, CancellationToken stopping,
        Func<BasicDeliverEventArgs, PoisonMessageException, PoisonTries, CancellationToken, Task>? park = null)
    {
        // Two batches' worth in flight: one being applied while the next gathers. Every delivery's handler waits for
        // its batch (the body is only valid while its handler runs), so there are as many handlers as deliveries.
        // Callers keep this at the 64 the consumers prefetched before batching: what a consumer holds unacked, a
        // queue purge cannot reach, and the message-loss scenario purges while the participant is frozen.
        var inFlight = (ushort)(2 * maxBatch);
        var channel = await Connection.CreateChannelAsync(new CreateChannelOptions(false, false, consumerDispatchConcurrency: inFlight), stopping);
        await channel.BasicQosAsync(0, inFlight, false, stopping);
        var settle = new Settlement(channel, queue, park, _log, stopping);
        var batches = new Sql.GroupCommit<Applying<TApplied>>(queue, async (batch, ct) =>
        {
            var applied = await applyBatch([.. batch.Select(a => a.Delivery)], ct);
            for (var i = 0; i < batch.Count; i++) batch[i].Applied = applied[i];
        }, maxBatch, _log);
        batches.Start(stopping);
        // Alone after a failed batch, as many at a time as ConsumeAsync's handlers: a batch failing because the
        // database is down must not turn into 2 x maxBatch connections at once.
        var alone = new SemaphoreSlim(4, 4);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => settle.ApplyAsync(delivery, async () =>
        {
            var applying = new Applying<TApplied>(delivery);
            if (!await batches.CommitAsync(applying))
            {
                await alone.WaitAsync(stopping);
                try
                {
                    applying.Applied = (await applyBatch([delivery], stopping))[0];
                }
                finally
                {
                    alone.Release();
                }
            }
            // Here, not in the batch: a delay armed after the commit holds this delivery only, as it would with a
            // handler per message, and an error there puts back only this one.
            await afterCommit(delivery, applying.Applied!, stopping);
        });
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer, stopping);
    }

    /// <summary><see cref="ConsumeInBatchesAsync{TApplied}"/> for a consumer whose step after the commit needs nothing from the batch.</summary>
    public Task ConsumeInBatchesAsync(string queue, ushort maxBatch,
        Func<IReadOnlyList<BasicDeliverEventArgs>, CancellationToken, Task> applyBatch,
        Func<BasicDeliverEventArgs, CancellationToken, Task> afterCommit, CancellationToken stopping) =>
        ConsumeInBatchesAsync<bool>(queue, maxBatch, async (deliveries, ct) =>
        {
            await applyBatch(deliveries, ct);
            return new bool[deliveries.Count];
        }, (delivery, _, ct) => afterCommit(delivery, ct), stopping);

    private sealed class Applying<TApplied>(BasicDeliverEventArgs delivery)
    {
        public BasicDeliverEventArgs Delivery { get; } = delivery;
        public TApplied? Applied { get; set; }
    }

    /// <summary>
    /// What happens to a delivery once it was applied, or not: the ack, the retry after a pause, or the poison count
    /// and the parking, shared by both ways of consuming.
    /// </summary>
    private sealed class Settlement(IChannel channel, string queue,
        Func<BasicDeliverEventArgs, PoisonMessageException, PoisonTries, CancellationToken, Task>? park, ILogger log, CancellationToken stopping)
    {
        // Tries per poison message, in this process: a restart starts counting again, which only delays the parking.
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, PoisonTries> _poisonTries = new();

        public async Task ApplyAsync(BasicDeliverEventArgs delivery, Func<Task> apply)
        {
            try
            {
                await apply();
                await channel.BasicAckAsync(delivery.DeliveryTag, false, stopping);
                Hosting.ServiceCounters.MessageConsumed();
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
            }
            catch (PoisonMessageException poison) when (park is not null)
            {
                var key = delivery.BasicProperties.MessageId ?? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(delivery.Body.Span));
                var tries = _poisonTries.AddOrUpdate(key, _ => new PoisonTries(1, DateTimeOffset.UtcNow), (_, t) => t with { Attempts = t.Attempts + 1 });
                var attempt = tries.Attempts;
                if (attempt >= PoisonAttempts && await TryParkAsync(delivery, poison, tries))
                {
                    _poisonTries.TryRemove(key, out PoisonTries? _);
                    log.LogWarning("parked message {MessageId} from {Queue} after {Attempts} attempts: {Reason}", key, queue, attempt, poison.Message);
                    await AckOrLeaveAsync(delivery);
                    return;
                }
                log.LogWarning("message {MessageId} from {Queue} cannot be applied ({Reason}); attempt {Attempt} of {Max}", key, queue, poison.Message, attempt, PoisonAttempts);
                await NackAsync(delivery, TimeSpan.FromTicks(Math.Min(MaxPoisonBackoff.Ticks, (PoisonBackoff * Math.Pow(2, Math.Min(attempt - 1, 10))).Ticks)));
            }
            catch (Exception e)
            {
                log.LogWarning("handling a message from {Queue} failed: {Error}; it goes back to the queue", queue, e.Message);
                await NackAsync(delivery, RetryDelay);
            }
        }

        private async Task<bool> TryParkAsync(BasicDeliverEventArgs delivery, PoisonMessageException poison, PoisonTries tries)
        {
            try
            {
                await park!(delivery, poison, tries, stopping);
                return true;
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                // The park table is out of reach (the database is down): keep the message in the queue and try later.
                log.LogWarning("parking failed: {Error}; the message goes back to the queue", e.Message);
                return false;
            }
        }

        private async Task AckOrLeaveAsync(BasicDeliverEventArgs delivery)
        {
            try
            {
                await channel.BasicAckAsync(delivery.DeliveryTag, false, CancellationToken.None);
            }
            catch (Exception e)
            {
                // The channel is gone: the broker redelivers, and the message is parked again (a second row, same id).
                log.LogDebug("ack of a parked message failed: {Error}", e.Message);
            }
        }

        /// <summary>Puts a delivery back after <paramref name="delay"/>, so that a failing message does not spin.</summary>
        private async Task NackAsync(BasicDeliverEventArgs delivery, TimeSpan delay)
        {
            await Task.Delay(delay, CancellationToken.None);
            try
            {
                await channel.BasicNackAsync(delivery.DeliveryTag, false, requeue: true, CancellationToken.None);
            }
            catch (Exception nackError)
            {
                // The channel is gone (broker restart); the broker requeues unacked deliveries by itself.
                log.LogDebug("nack failed: {Error}", nackError.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Connection.CloseAsync();
        }
        catch (Exception e)
        {
            _log.LogDebug("closing the AMQP connection: {Error}", e.Message);
        }
        Connection.Dispose();
    }
}
