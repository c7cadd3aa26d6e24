using System.Net.Sockets;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// A private RabbitMQ node: its own Erlang port mapper (epmd) and node, both <see cref="ChildProcess"/>es, on free
/// ports on 127.0.0.1, with every file under workDir/rabbitmq and the logs in logDir.
/// </summary>
/// <remarks>
/// Why our own epmd: the Erlang VM starts the system-wide `epmd -daemon` when none answers, and that daemon
/// detaches from us and would outlive the harness. Running `epmd -port P` in the foreground as our child and
/// giving the node ERL_EPMD_PORT=P keeps it ours.
/// </remarks>
internal sealed class EmbeddedRabbitMq : RabbitMqServer
{
    private const int MaxPortAttempts = 5;
    private static readonly TimeSpan EpmdStartTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan NodeStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan NodeStopGrace = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);

    private readonly NodeLayout layout;
    private ChildProcess? epmd;
    private ChildProcess? node;

    public override int? ProcessId => node is { HasExited: false } running ? running.Pid : null;
    private int disposed;

    private EmbeddedRabbitMq(NodeLayout layout) => this.layout = layout;

    public override string AmqpUri => layout.AmqpUri.ToString();

    public override bool IsEmbedded => true;

    public static async Task<EmbeddedRabbitMq> StartAsync(string workDir, string logDir, CancellationToken ct)
    {
        string server = Binaries.RabbitMqServer;
        string epmdBinary = Binaries.Epmd;
        string nodeName = $"dtx{Guid.NewGuid():N}"[..15] + "@localhost";
        string root = Path.Combine(Path.GetFullPath(workDir), "rabbitmq");
        // A run killed with SIGKILL leaves its node's files behind; this run folder is ours, so start clean.
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);

        for (int attempt = 1; ; attempt++)
        {
            var layout = new NodeLayout(server, epmdBinary, nodeName, root, Path.GetFullPath(logDir),
                AmqpPort: FreePort.Next(), DistributionPort: FreePort.Next(), EpmdPort: FreePort.Next());
            layout.WriteFiles();
            var broker = new EmbeddedRabbitMq(layout);
            long epmdLogOffset = LogFile.Length(layout.EpmdLogPath);
            long nodeLogOffset = LogFile.Length(layout.NodeLogPath);
            try
            {
                await broker.StartProcessesAsync(ct);
                return broker;
            }
            catch (InfrastructureUnavailableException) when (attempt < MaxPortAttempts &&
                (PortWasTaken(layout.EpmdLogPath, epmdLogOffset) || PortWasTaken(layout.NodeLogPath, nodeLogOffset)))
            {
                // One of FreePort's ports was taken before we bound it: try new ones.
                await broker.DisposeAsync();
            }
            catch
            {
                await broker.DisposeAsync();
                throw;
            }
        }
    }

    public override async Task CrashAsync(CancellationToken ct = default)
    {
        if (node is not { HasExited: false } running) return;
        running.Kill();
        await running.Exited.WaitAsync(KillTimeout, ct);
    }

    /// <summary>Same node name, data directory and ports, so queues and persistent messages come back.</summary>
    public override async Task RestartAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        if (node is { HasExited: false }) return;
        await StartProcessesAsync(ct);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        // The node first: it deregisters from epmd on the way down.
        if (node is not null)
        {
            await node.StopAsync(NodeStopGrace);
            await node.DisposeAsync();
        }
        if (epmd is not null) await epmd.DisposeAsync();
        if (Directory.Exists(layout.Root)) Directory.Delete(layout.Root, recursive: true);
    }

    private async Task StartProcessesAsync(CancellationToken ct)
    {
        if (epmd is not { HasExited: false })
        {
            epmd = null;
            var started = layout.StartEpmd();
            epmd = started;
            await Readiness.WaitAsync($"epmd on port {layout.EpmdPort}", started,
                token => ConnectTcpAsync(layout.EpmdPort, token), EpmdStartTimeout, ct);
        }

        var process = layout.StartNode();
        node = process;
        try
        {
            await Readiness.WaitAsync($"RabbitMQ on port {layout.AmqpPort}", process,
                token => ProbeAsync(layout.AmqpUri, ProbeTimeout, token), NodeStartTimeout, ct);
        }
        catch
        {
            // A node that never became ready must not look alive to the next RestartAsync, which would then leave a
            // broker that never answers in place for every later run on these servers.
            if (!process.HasExited)
            {
                process.Kill();
                await process.Exited.WaitAsync(KillTimeout, CancellationToken.None);
            }
            throw;
        }
    }

    private static async Task ConnectTcpAsync(int port, CancellationToken ct)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, ct);
    }

    // epmd says "Address already in use"; the Erlang VM says eaddrinuse.
    private static bool PortWasTaken(string logPath, long offset)
    {
        string written = LogFile.ReadFrom(logPath, offset);
        return written.Contains("Address already in use", StringComparison.OrdinalIgnoreCase)
            || written.Contains("eaddrinuse", StringComparison.Ordinal);
    }
}
