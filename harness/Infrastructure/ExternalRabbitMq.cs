namespace Dtx.Harness.Infrastructure;

/// <summary>The user's own RabbitMQ broker. The harness never stops it.</summary>
internal sealed class ExternalRabbitMq : RabbitMqServer
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    private ExternalRabbitMq(string amqpUri) => AmqpUri = amqpUri;

    public override string AmqpUri { get; }

    public override bool IsEmbedded => false;

    public static async Task<ExternalRabbitMq> ConnectAsync(string amqpUri, CancellationToken ct)
    {
        if (!Uri.TryCreate(amqpUri, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps"))
            throw new ArgumentException(
                $"'{amqpUri}' is not an AMQP URI such as amqp://guest:guest@127.0.0.1:5672/", nameof(amqpUri));

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(ConnectTimeout);
        try
        {
            await ProbeAsync(uri, ConnectTimeout, deadline.Token);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            string cause = deadline.IsCancellationRequested
                ? $"no answer within {ConnectTimeout.TotalSeconds:0} s"
                : Innermost(e).Message;
            throw new InfrastructureUnavailableException(
                $"RabbitMQ at {uri.Host}:{PortOf(uri)} is not reachable: {cause}", e);
        }
        return new ExternalRabbitMq(amqpUri);
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static int PortOf(Uri uri) => uri.Port > 0 ? uri.Port : uri.Scheme == "amqps" ? 5671 : 5672;

    // RabbitMQ.Client wraps the socket error in BrokerUnreachableException and an AggregateException.
    private static Exception Innermost(Exception e) => e.InnerException is null ? e : Innermost(e.InnerException);
}
