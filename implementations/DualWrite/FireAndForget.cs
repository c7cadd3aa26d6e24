using Dtx.Shared.Messaging;
using RabbitMQ.Client;

namespace Dtx.DualWrite;

/// <summary>
/// How a naive service publishes: on a plain channel, without publisher confirms and without <c>mandatory</c>.
/// The call returns once the frame is handed to the socket; a broker that dies now, or a queue that is missing,
/// loses the message and nobody hears of it. This is the behaviour the two reference patterns exist to avoid.
/// </summary>
public sealed class FireAndForget(AmqpConnection amqp)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private IChannel? _channel;

    public async Task PublishAsync(string queue, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var channel = await ChannelAsync(ct);
        var properties = new BasicProperties { MessageId = Guid.NewGuid().ToString(), Persistent = true, ContentType = "application/json" };
        await channel.BasicPublishAsync(exchange: "", routingKey: queue, mandatory: false, basicProperties: properties, body: body, cancellationToken: ct);
        Shared.Hosting.ServiceCounters.MessagePublished();
    }

    private async Task<IChannel> ChannelAsync(CancellationToken ct)
    {
        if (_channel is { IsOpen: true } open) return open;
        await _lock.WaitAsync(ct);
        try
        {
            if (_channel is not { IsOpen: true })
            {
                _channel?.Dispose();
                _channel = await amqp.Connection.CreateChannelAsync(cancellationToken: ct);
            }
            return _channel;
        }
        finally
        {
            _lock.Release();
        }
    }
}
