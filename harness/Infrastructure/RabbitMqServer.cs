using RabbitMQ.Client;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// A RabbitMQ broker the harness uses: embedded (started by the harness, see <see cref="EmbeddedRabbitMq"/>) or
/// external (the user's, see <see cref="ExternalRabbitMq"/>).
/// </summary>
public abstract class RabbitMqServer : IAsyncDisposable
{
    /// <summary>For an embedded broker: amqp://guest:guest@127.0.0.1:PORT/</summary>
    public abstract string AmqpUri { get; }

    public abstract bool IsEmbedded { get; }

    /// <summary>The node's process id when the harness runs the broker; null for an external one.</summary>
    public virtual int? ProcessId => null;

    /// <summary>Embedded: SIGKILL the node, the way a crashed broker machine looks to its clients.</summary>
    public virtual Task CrashAsync(CancellationToken ct = default) =>
        throw new NotSupportedException("the harness never crashes an external RabbitMQ broker");

    /// <summary>Embedded: starts the node again with the same data and ports, and waits until AMQP answers.</summary>
    public virtual Task RestartAsync(CancellationToken ct = default) =>
        throw new NotSupportedException("the harness never restarts an external RabbitMQ broker");

    /// <summary>Embedded: stops the node and deletes its data. External: nothing (the broker is the user's).</summary>
    public abstract ValueTask DisposeAsync();

    /// <summary>Starts a private node listening on free ports on 127.0.0.1; its log goes to logDir/rabbitmq.log.</summary>
    public static async Task<RabbitMqServer> StartEmbeddedAsync(string workDir, string logDir, CancellationToken ct = default) =>
        await EmbeddedRabbitMq.StartAsync(workDir, logDir, ct);

    /// <summary>
    /// Uses the user's broker. Fails with <see cref="ArgumentException"/> when the URI cannot be parsed and with
    /// <see cref="InfrastructureUnavailableException"/> when no AMQP connection succeeds within ~5 s.
    /// </summary>
    public static async Task<RabbitMqServer> ConnectExternalAsync(string amqpUri, CancellationToken ct = default) =>
        await ExternalRabbitMq.ConnectAsync(amqpUri, ct);

    /// <summary>Opens and closes a real AMQP connection: a listening port alone does not mean the broker is up.</summary>
    internal static async Task ProbeAsync(Uri amqpUri, TimeSpan timeout, CancellationToken ct)
    {
        var factory = new ConnectionFactory
        {
            Uri = amqpUri,
            RequestedConnectionTimeout = timeout,
            SocketReadTimeout = timeout,
            SocketWriteTimeout = timeout,
            ContinuationTimeout = timeout,
            HandshakeContinuationTimeout = timeout,
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            ClientProvidedName = "dtx-harness readiness probe",
        };
        await using var connection = await factory.CreateConnectionAsync(ct);
        await connection.CloseAsync(ct);
    }
}
