using RabbitMQ.Client;

namespace Dtx.Shared.Messaging;

/// <summary>
/// Publishes so that "the publish returned" means "the broker has the message": publisher confirms with
/// tracking (BasicPublishAsync completes only on the broker's ack and throws on a nack), <c>mandatory</c> (a
/// message no queue would take comes back as an error instead of vanishing, CAP #1507) and persistent delivery.
/// Without tracking, RabbitMQ.Client 7 returns before the ack, which is how CAP and Wolverine lose messages.
/// </summary>
public sealed class ConfirmingPublisher(IChannel channel) : IAsyncDisposable
{
    /// <summary>
    /// Confirms are tracked, and no rate limiter is passed: the callers bound what is in flight themselves (a relay
    /// pass publishes at most <c>HandOffAndPoll.BatchSize</c> messages, and each relay runs two loops). The library's
    /// <c>ThrottlingRateLimiter</c> did worse than nothing: with throttling on it sleeps 500 to 1,000 ms before each
    /// publish once half its permits are out (a relay pass of 100 took 1.5 s, and a backlog drained at about 150
    /// orders/s); with throttling off, under a bench's overload it refused publishes ("Could not acquire a lease from
    /// the rate limiter") with far fewer than its permits and queue in flight from us.
    /// </summary>
    public static CreateChannelOptions NewChannelOptions() => new(
        publisherConfirmationsEnabled: true,
        publisherConfirmationTrackingEnabled: true,
        outstandingPublisherConfirmationsRateLimiter: null);

    public bool IsOpen => channel.IsOpen;

    /// <summary>Returns when the broker has confirmed; throws when it refused, returned or lost the message.</summary>
    public async Task PublishAsync(string queue, string messageId, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var properties = new BasicProperties
        {
            MessageId = messageId,
            Persistent = true,
            ContentType = "application/json",
        };
        await channel.BasicPublishAsync(exchange: "", routingKey: queue, mandatory: true, basicProperties: properties, body: body, cancellationToken: ct);
        Hosting.ServiceCounters.MessagePublished();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await channel.CloseAsync();
        }
        catch (Exception)
        {
            // Already closed with its connection; nothing of ours is lost by that.
        }
        channel.Dispose();
    }
}
