using Npgsql;

namespace Dtx.Harness.Infrastructure;

/// <summary>The user's own PostgreSQL server. The harness creates and drops its databases but never stops it.</summary>
internal sealed class ExternalPostgres : PostgresServer
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    private ExternalPostgres(string adminConnectionString) => AdminConnectionString = adminConnectionString;

    public override string AdminConnectionString { get; }

    public override bool IsEmbedded => false;

    public static async Task<ExternalPostgres> ConnectAsync(string connectionString, CancellationToken ct)
    {
        var builder = Parse(connectionString);
        builder.Database = "postgres";
        string endpoint = $"{builder.Host}:{builder.Port}";

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(ConnectTimeout);
        try
        {
            await ProbeAsync(builder.ConnectionString, deadline.Token);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            string cause = deadline.IsCancellationRequested
                ? $"no answer within {ConnectTimeout.TotalSeconds:0} s"
                : Innermost(e).Message;
            throw new InfrastructureUnavailableException($"PostgreSQL at {endpoint} is not reachable: {cause}", e);
        }
        return new ExternalPostgres(builder.ConnectionString);
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static NpgsqlConnectionStringBuilder Parse(string connectionString) =>
        Problem(connectionString, out var builder) is { } problem ? throw new ArgumentException(problem) : builder!;

    /// <summary>Null when <paramref name="connectionString"/> can name a server; otherwise what is wrong, in the user's words.</summary>
    public static string? Problem(string connectionString, out NpgsqlConnectionStringBuilder? builder)
    {
        builder = null;
        const string Example = "e.g. \"Host=127.0.0.1;Port=5432;Username=postgres;Password=secret\"";
        // A URL is the most likely mistake: Npgsql only takes key=value pairs and would report a confusing keyword.
        if (connectionString.Contains("://", StringComparison.Ordinal))
            return $"the PostgreSQL connection string must be key=value pairs, {Example}, not a URL";
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
        {
            return $"'{connectionString}' is not a PostgreSQL connection string of key=value pairs, {Example}";
        }
        if (string.IsNullOrWhiteSpace(builder.Host)) return $"the PostgreSQL connection string names no Host, {Example}";
        return builder.Port is < 1 or > 65535 ? $"the PostgreSQL connection string's Port must be from 1 to 65535, not {builder.Port}" : null;
    }

    private static Exception Innermost(Exception e) => e.InnerException is null ? e : Innermost(e.InnerException);
}
