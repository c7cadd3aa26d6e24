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
    /// <summary>A new one per channel: the limiter holds the channel's permits, and one shared by channels would pool them.</summary>
    public static CreateChannelOptions NewChannelOptions() => new(
        publisherConfirmationsEnabled: true,
        publisherConfirmationTrackingEnabled: true,
        // Set explicitly: the constructor's default is no limit at all, whatever the XML doc says. The limit only
        // bounds the confirms in flight (a relay's pass of HandOffAndPoll.BatchSize fits in it); throttling is off,
        // because the library's throttle sleeps 500 to 1,000 ms before each publish once half the permits are out,
        // which made every full relay pass of 100 messages take about 1.5 s: the pipeline could not pass 200 orders/s.
        outstandingPublisherConfirmationsRateLimiter: new ThrottlingRateLimiter(MaxOutstandingConfirms, throttlingPercentage: 0));

    /// <summary>Confirms in flight on one channel; a publish beyond them waits for a permit.</summary>
    public const int MaxOutstandingConfirms = 256;

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
