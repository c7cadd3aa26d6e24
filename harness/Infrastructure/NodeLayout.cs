namespace Dtx.Harness.Infrastructure;

/// <summary>
/// Everything that pins one embedded RabbitMQ node to its own files and ports, so that it shares nothing with a
/// system-wide RabbitMQ (or another run) and comes back with the same data after a crash.
/// </summary>
internal sealed record NodeLayout(
    string ServerBinary, string EpmdBinary, string NodeName, string Root, string LogDirectory,
    int AmqpPort, int DistributionPort, int EpmdPort)
{
    public Uri AmqpUri => new($"amqp://guest:guest@127.0.0.1:{AmqpPort}/");
    public string NodeLogPath => Path.Combine(LogDirectory, "rabbitmq.log");
    public string EpmdLogPath => Path.Combine(LogDirectory, "epmd.log");

    private string Home => Path.Combine(Root, "home");
    private string ConfigFile => Path.Combine(Root, "rabbitmq.conf");
    private string EnabledPluginsFile => Path.Combine(Root, "enabled_plugins");

    public void WriteFiles()
    {
        Directory.CreateDirectory(Home);
        Directory.CreateDirectory(LogDirectory);
        // RABBITMQ_NODE_IP_ADDRESS/PORT say the same; the config file makes the loopback-only listener explicit.
        File.WriteAllText(ConfigFile, $"listeners.tcp.1 = 127.0.0.1:{AmqpPort}\n");
        // No plugins: the management plugin would open another port and slow the start.
        File.WriteAllText(EnabledPluginsFile, "[].\n");
    }

    public ChildProcess StartEpmd() =>
        ChildProcess.Start(EpmdBinary, ["-address", "127.0.0.1", "-port", EpmdPort.ToString()], EpmdLogPath,
            Environment(), workingDirectory: Root);

    /// <summary>
    /// The rabbitmq-server script, which runs the Erlang VM in its process group and forwards SIGTERM to it.
    /// Not /usr/sbin/rabbitmq-server: that wrapper switches to the rabbitmq user with su.
    /// </summary>
    public ChildProcess StartNode() =>
        ChildProcess.Start(ServerBinary, [], NodeLogPath, Environment(), workingDirectory: Root);

    private Dictionary<string, string> Environment() => new()
    {
        ["DTX_WORK_DIR"] = Path.GetDirectoryName(Root)!,
        // A private HOME keeps the node's .erlang.cookie out of the user's home.
        ["HOME"] = Home,
        ["RABBITMQ_NODENAME"] = NodeName,
        ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
        ["RABBITMQ_NODE_PORT"] = AmqpPort.ToString(),
        ["RABBITMQ_DIST_PORT"] = DistributionPort.ToString(),
        ["RABBITMQ_MNESIA_BASE"] = Path.Combine(Root, "mnesia"),
        ["RABBITMQ_LOG_BASE"] = LogDirectory,
        // "-": log to stdout, which ChildProcess appends to rabbitmq.log.
        ["RABBITMQ_LOGS"] = "-",
        ["RABBITMQ_CONFIG_FILE"] = ConfigFile,
        ["RABBITMQ_ENABLED_PLUGINS_FILE"] = EnabledPluginsFile,
        // Files that do not exist, so /etc/rabbitmq/rabbitmq-env.conf and advanced.config cannot change this node.
        ["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(Root, "no-rabbitmq-env.conf"),
        ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(Root, "no-advanced.config"),
        // Without this the distribution listener binds 0.0.0.0.
        ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
        ["ERL_EPMD_PORT"] = EpmdPort.ToString(),
        ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
    };
}
