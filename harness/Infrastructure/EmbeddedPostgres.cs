using Npgsql;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// A private PostgreSQL server: initdb into workDir/pg, then postgres on a free port on 127.0.0.1, as a
/// <see cref="ChildProcess"/> whose stderr goes to logDir/postgres.log.
/// </summary>
internal sealed class EmbeddedPostgres : PostgresServer
{
    // initdb and postgres refuse to run as root.
    private const string ServiceUser = "postgres";
    private const int MaxPortAttempts = 5;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly Setup setup;
    private ChildProcess? postmaster;

    public override int? ProcessId => postmaster is { HasExited: false } running ? running.Pid : null;
    private int disposed;

    private EmbeddedPostgres(Setup setup, int port)
    {
        this.setup = setup;
        Port = port;
        AdminConnectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = "postgres",
            Database = "postgres",
        }.ConnectionString;
    }

    public int Port { get; }

    public override string AdminConnectionString { get; }

    public override bool IsEmbedded => true;

    public static async Task<EmbeddedPostgres> StartAsync(string workDir, string logDir, CancellationToken ct)
    {
        string binDirectory = Binaries.PostgresBinDirectory();
        string? runAsUser = Posix.IsRoot ? ServiceUser : null;
        workDir = Path.GetFullPath(workDir);
        logDir = Path.GetFullPath(logDir);
        Directory.CreateDirectory(logDir);

        string dataDirectory = await PrepareDataDirectoryAsync(workDir, runAsUser, ct);
        var setup = new Setup(binDirectory, workDir, dataDirectory, logDir, runAsUser);
        try
        {
            await InitDbAsync(setup, ct);
            return await StartOnFreePortAsync(setup, ct);
        }
        catch
        {
            // The logs stay in logDir for diagnosis; the data of a server that never ran is worth nothing.
            Directory.Delete(dataDirectory, recursive: true);
            throw;
        }
    }

    private static async Task<EmbeddedPostgres> StartOnFreePortAsync(Setup setup, CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            var server = new EmbeddedPostgres(setup, FreePort.Next());
            long logOffset = LogFile.Length(setup.LogPath);
            try
            {
                await server.StartPostmasterAsync(ct);
                return server;
            }
            catch (InfrastructureUnavailableException) when (attempt < MaxPortAttempts &&
                LogFile.ReadFrom(setup.LogPath, logOffset).Contains("Address already in use", StringComparison.Ordinal))
            {
                // FreePort's port was taken between our probe and the postmaster's bind: try another one.
            }
        }
    }

    /// <summary>
    /// An immediate shutdown, which is what `pg_ctl stop -m immediate` does: SIGQUIT, so every process exits
    /// at once, without a checkpoint; the next start replays the WAL like after a crash.
    /// </summary>
    public override Task CrashAsync(CancellationToken ct = default) => StopPostmasterAsync(Signals.SIGQUIT, ct);

    public override async Task RestartAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        if (postmaster is { HasExited: false }) return;
        await StartPostmasterAsync(ct);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        // A fast shutdown (SIGINT, `pg_ctl stop -m fast`): SIGTERM, a smart shutdown, would wait for every client
        // to disconnect, and the services under test may still hold connections.
        await StopPostmasterAsync(Signals.SIGINT, CancellationToken.None);
        if (postmaster is not null) await postmaster.DisposeAsync();
        Directory.Delete(setup.DataDirectory, recursive: true);
    }

    /// <summary>
    /// Signals the postmaster alone: the backends live in sessions of their own, and the postmaster tells each of
    /// them what the shutdown mode means for it.
    /// </summary>
    private async Task StopPostmasterAsync(int signal, CancellationToken ct)
    {
        if (postmaster is not { HasExited: false } running) return;
        running.Signal(signal);
        try
        {
            await running.Exited.WaitAsync(StopTimeout, ct);
        }
        catch (TimeoutException)
        {
            running.Kill();
            await running.Exited.WaitAsync(StopTimeout, ct);
        }
    }

    private async Task StartPostmasterAsync(CancellationToken ct)
    {
        string[] args =
        [
            "-D", setup.DataDirectory,
            "-p", Port.ToString(),
            "-c", "listen_addresses=127.0.0.1",
            // No Unix socket: clients use TCP, and the default socket directory (/var/run/postgresql) may be missing,
            // not writable, or shared with the system's own server.
            "-c", "unix_socket_directories=",
            // Safe for what the harness simulates: a crash is a process crash (SIGKILL, immediate stop) while the
            // kernel stays up, so everything written sits in the OS page cache and survives; only a machine crash
            // could lose it. It makes commits cheap, which keeps the load realistic on small machines.
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=300",
            "-c", "shared_buffers=128MB",
            // The log is the postmaster's stderr, which ChildProcess appends to postgres.log.
            "-c", "logging_collector=off",
            // Shown in every process title ("postgres: <cluster_name>: checkpointer"), which makes each process of
            // this server recognisable by its command line; the environment cannot tell, since PostgreSQL writes
            // process titles over it.
            "-c", $"cluster_name={setup.WorkDir}",
            .. StatementCounting(setup.BinDirectory),
        ];
        var process = ChildProcess.Start(Path.Combine(setup.BinDirectory, "postgres"), args, setup.LogPath,
            setup.Environment, workingDirectory: "/", runAsUser: setup.RunAsUser);
        try
        {
            await Readiness.WaitAsync($"PostgreSQL on port {Port}", process,
                token => ProbeAsync(AdminConnectionString, token), StartTimeout, ct);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
        postmaster = process;
    }

    /// <summary>
    /// pg_stat_statements, when the server has it (Debian's postgresql-15 does): bench counts the statements each
    /// order costs from it. It only counts; an extension must still be created for its view to be read.
    /// </summary>
    private static string[] StatementCounting(string binDirectory) =>
        File.Exists(Path.Combine(binDirectory, "..", "lib", "pg_stat_statements.so"))
            ? ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"]
            : [];

    /// <summary>
    /// Creates an empty workDir/pg owned by the user PostgreSQL runs as. That user must be able to reach it: a run
    /// folder under /root is not reachable for 'postgres', so then the data goes to a private folder under /tmp.
    /// </summary>
    private static async Task<string> PrepareDataDirectoryAsync(string workDir, string? runAsUser, CancellationToken ct)
    {
        string dataDirectory = Path.Combine(workDir, "pg");
        // A run killed with SIGKILL leaves its data behind; this run folder is ours, so start clean.
        if (Directory.Exists(dataDirectory)) Directory.Delete(dataDirectory, recursive: true);
        Directory.CreateDirectory(dataDirectory);
        if (runAsUser is null) return dataDirectory;

        GiveTo(dataDirectory, runAsUser);
        if (await CanUseAsync(dataDirectory, runAsUser, ct)) return dataDirectory;

        Directory.Delete(dataDirectory);
        string fallback = Directory.CreateTempSubdirectory("dtx-pg-").FullName;
        GiveTo(fallback, runAsUser);
        return fallback;
    }

    private static void GiveTo(string directory, string user)
    {
        var (uid, gid) = Posix.LookUpUser(user) ?? throw new MissingDependencyException(
            $"there is no '{user}' user to run PostgreSQL as: install PostgreSQL with `apt-get install postgresql-15`");
        Posix.ChangeOwner(directory, uid, gid);
        // initdb insists on 0700 (or 0750) for the data directory.
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the embedded servers need Linux");
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    // Asking the kernel as that user is the only exact answer: modes, group membership and ACLs all count.
    private static async Task<bool> CanUseAsync(string directory, string user, CancellationToken ct)
    {
        string logPath = Path.Combine(Path.GetTempPath(), $"dtx-access-check-{Guid.NewGuid():N}.log");
        try
        {
            await using var check = ChildProcess.Start("/usr/bin/test", ["-w", directory, "-a", "-x", directory],
                logPath, workingDirectory: "/", runAsUser: user);
            return await check.Exited.WaitAsync(TimeSpan.FromSeconds(10), ct) == 0;
        }
        finally
        {
            File.Delete(logPath);
        }
    }

    private static async Task InitDbAsync(Setup setup, CancellationToken ct)
    {
        string[] args = ["-D", setup.DataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"];
        string logPath = Path.Combine(setup.LogDirectory, "initdb.log");
        await using var initdb = ChildProcess.Start(Path.Combine(setup.BinDirectory, "initdb"), args, logPath,
            setup.Environment, workingDirectory: "/", runAsUser: setup.RunAsUser);
        int code = await initdb.Exited.WaitAsync(TimeSpan.FromSeconds(60), ct);
        if (code != 0)
            throw new InfrastructureUnavailableException(
                $"initdb failed with code {code}; last lines of {logPath}:\n{initdb.LogTail()}");
    }

    /// <summary>What stays the same across the server's restarts.</summary>
    /// <param name="WorkDir">The run folder; the data directory is WorkDir/pg unless the service user cannot reach it.</param>
    /// <param name="RunAsUser">The user to run initdb and postgres as, when the harness runs as root.</param>
    private sealed record Setup(string BinDirectory, string WorkDir, string DataDirectory, string LogDirectory, string? RunAsUser)
    {
        public string LogPath => Path.Combine(LogDirectory, "postgres.log");

        // Tags every process of this run, so that leftovers can be found by their environment.
        public IReadOnlyDictionary<string, string> Environment { get; } =
            new Dictionary<string, string> { ["DTX_WORK_DIR"] = WorkDir };
    }
}
