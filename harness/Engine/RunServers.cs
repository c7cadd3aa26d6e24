using Dtx.Harness.Infrastructure;

namespace Dtx.Harness.Engine;

/// <summary>
/// PostgreSQL, RabbitMQ and the fault proxy for one or more scenario runs. <c>scenario --all</c> and <c>mutants</c>
/// start them once and every scenario gets fresh databases, queues and proxies on them, as on a user's own servers:
/// starting a server costs more than ten seconds a scenario on two cores. A scenario that crashes a server leaves it
/// restarted on the same data. Each run folder still gets the server log lines written during its own run.
/// </summary>
public sealed class RunServers : IAsyncDisposable
{
    private RunServers(PostgresServer postgres, RabbitMqServer rabbit, Proxy.ToxiproxyServer? embeddedProxy, Proxy.ToxiproxyClient toxiproxy,
        string logDir, string workDir)
    {
        (Postgres, Rabbit, EmbeddedProxy, Toxiproxy, LogDir, _workDir) = (postgres, rabbit, embeddedProxy, toxiproxy, logDir, workDir);
    }

    private readonly string _workDir;

    public PostgresServer Postgres { get; }
    public RabbitMqServer Rabbit { get; }
    public Proxy.ToxiproxyServer? EmbeddedProxy { get; }
    public Proxy.ToxiproxyClient Toxiproxy { get; }
    /// <summary>Where the embedded servers write their logs.</summary>
    public string LogDir { get; }

    public string Description =>
        $"PostgreSQL {(Postgres.IsEmbedded ? "embedded" : "external")}, RabbitMQ {(Rabbit.IsEmbedded ? "embedded" : "external")}, proxy {(EmbeddedProxy is null ? "external Toxiproxy" : "embedded")}";

    /// <summary>The servers <paramref name="options"/> names, or embedded ones under <paramref name="workDir"/> logging to <paramref name="logDir"/>.</summary>
    public static async Task<RunServers> StartAsync(RunOptions options, string workDir, string logDir, CancellationToken ct)
    {
        PostgresServer? postgres = null;
        RabbitMqServer? rabbit = null;
        Proxy.ToxiproxyServer? proxy = null;
        try
        {
            postgres = options.Postgres is null
                ? await PostgresServer.StartEmbeddedAsync(Path.Combine(workDir, "pg"), logDir, ct)
                : await PostgresServer.ConnectExternalAsync(options.Postgres, ct);
            rabbit = options.Amqp is null
                ? await RabbitMqServer.StartEmbeddedAsync(Path.Combine(workDir, "rabbitmq"), logDir, ct)
                : await RabbitMqServer.ConnectExternalAsync(options.Amqp, ct);
            proxy = options.Toxiproxy is null ? await Proxy.ToxiproxyServer.StartAsync("127.0.0.1:0", ct) : null;
            var toxiproxy = new Proxy.ToxiproxyClient(proxy?.ApiUri ?? new Uri(options.Toxiproxy!));
            await VerifyToxiproxyAsync(toxiproxy, ct);
            return new RunServers(postgres, rabbit, proxy, toxiproxy, logDir, workDir);
        }
        catch
        {
            await DisposeAllAsync(proxy, rabbit, postgres, workDir);
            throw;
        }
    }

    /// <summary>
    /// Brings back an embedded server that an earlier scenario crashed and did not restart (its load failed during the
    /// downtime, say), so that the next scenario fails, if at all, for its own reasons. A running server is left alone.
    /// </summary>
    public async Task EnsureUpAsync(CancellationToken ct)
    {
        if (Postgres.IsEmbedded) await Postgres.RestartAsync(ct);
        if (Rabbit.IsEmbedded) await Rabbit.RestartAsync(ct);
    }

    /// <summary>Where each log file ends now, so that <see cref="CopyLogsSince"/> can hand a run what was written during it.</summary>
    public IReadOnlyDictionary<string, long> LogOffsets() =>
        Directory.Exists(LogDir) ? Directory.GetFiles(LogDir).ToDictionary(f => f, LogFile.Length) : new Dictionary<string, long>();

    /// <summary>Copies every server log line written since <paramref name="offsets"/> into <paramref name="runLogDir"/>.</summary>
    public void CopyLogsSince(IReadOnlyDictionary<string, long> offsets, string runLogDir)
    {
        if (!Directory.Exists(LogDir) || Path.GetFullPath(LogDir) == Path.GetFullPath(runLogDir)) return;
        foreach (var file in Directory.GetFiles(LogDir))
        {
            try
            {
                using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                source.Seek(Math.Min(offsets.GetValueOrDefault(file), source.Length), SeekOrigin.Begin);
                if (source.Position == source.Length) continue;
                using var target = File.Create(Path.Combine(runLogDir, Path.GetFileName(file)));
                source.CopyTo(target);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A log is diagnosis, not a result: a file the server rotates away is not worth failing the run for.
            }
        }
    }

    /// <summary>A --toxiproxy that does not answer is bad input, said in one line before anything starts.</summary>
    private static async Task VerifyToxiproxyAsync(Proxy.ToxiproxyClient toxiproxy, CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await toxiproxy.VersionAsync(timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException or Proxy.ToxiproxyException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            throw new InfrastructureUnavailableException($"the Toxiproxy API does not answer: {e.Message}", e);
        }
    }

    public ValueTask DisposeAsync() => DisposeAllAsync(EmbeddedProxy, Rabbit, Postgres, _workDir);

    /// <summary>Each one stopped even when stopping another throws: a server left running outlives the harness.</summary>
    private static async ValueTask DisposeAllAsync(IAsyncDisposable? proxy, IAsyncDisposable? rabbit, IAsyncDisposable? postgres, string workDir)
    {
        try
        {
            if (proxy is not null) await proxy.DisposeAsync();
        }
        finally
        {
            try
            {
                if (rabbit is not null) await rabbit.DisposeAsync();
            }
            finally
            {
                try
                {
                    if (postgres is not null) await postgres.DisposeAsync();
                }
                finally
                {
                    TryDelete(workDir);
                }
            }
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (Exception)
        {
            // Files owned by the postgres user may resist a non-root harness; the OS cleans its temp folder.
        }
    }
}
