using System.Text.RegularExpressions;
using Npgsql;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// A PostgreSQL server the harness uses: embedded (started by the harness, see <see cref="EmbeddedPostgres"/>) or
/// external (the user's, see <see cref="ExternalPostgres"/>).
/// </summary>
public abstract partial class PostgresServer : IAsyncDisposable
{
    /// <summary>Npgsql connection string to the 'postgres' database.</summary>
    public abstract string AdminConnectionString { get; }

    public abstract bool IsEmbedded { get; }

    /// <summary>The postmaster's process id when the harness runs the server (its backends are its children); null for an external server.</summary>
    public virtual int? ProcessId => null;

    /// <summary>Creates <paramref name="name"/> afresh (dropping it first) and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name, CancellationToken ct = default)
    {
        string quoted = QuoteDatabaseName(name);
        await ExecuteAdminAsync(ct, $"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)", $"CREATE DATABASE {quoted}");
        return ConnectionStringFor(name);
    }

    /// <summary>Drops <paramref name="name"/> if it exists, disconnecting its sessions.</summary>
    public Task DropDatabaseAsync(string name, CancellationToken ct = default) =>
        ExecuteAdminAsync(ct, $"DROP DATABASE IF EXISTS {QuoteDatabaseName(name)} WITH (FORCE)");

    public string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = database }.ConnectionString;

    /// <summary>Crashes the server the way a power cut would look to PostgreSQL: no shutdown checkpoint.</summary>
    public virtual Task CrashAsync(CancellationToken ct = default) =>
        throw new NotSupportedException("the harness never crashes an external PostgreSQL server");

    /// <summary>Starts the crashed server again on the same data directory and port, and waits until it answers.</summary>
    public virtual Task RestartAsync(CancellationToken ct = default) =>
        throw new NotSupportedException("the harness never restarts an external PostgreSQL server");

    /// <summary>Embedded: stops the server and deletes its data. External: nothing (the server is the user's).</summary>
    public abstract ValueTask DisposeAsync();

    /// <summary>initdb and start a private server on a free port on 127.0.0.1; its log goes to logDir/postgres.log.</summary>
    public static async Task<PostgresServer> StartEmbeddedAsync(string workDir, string logDir, CancellationToken ct = default) =>
        await EmbeddedPostgres.StartAsync(workDir, logDir, ct);

    /// <summary>
    /// Uses the user's server. Fails with <see cref="ArgumentException"/> when the connection string cannot be
    /// parsed and with <see cref="InfrastructureUnavailableException"/> when the server does not answer within ~5 s.
    /// </summary>
    public static async Task<PostgresServer> ConnectExternalAsync(string connectionString, CancellationToken ct = default) =>
        await ExternalPostgres.ConnectAsync(connectionString, ct);

    /// <summary>Connects without the pool: a pooled connection may be a dead one from before a crash.</summary>
    internal static NpgsqlConnection OpenUnpooled(string connectionString, int timeoutSeconds) =>
        new(new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            Timeout = timeoutSeconds,
        }.ConnectionString);

    /// <summary>Opens a connection and runs SELECT 1: the server is up only when it answers a query.</summary>
    internal static async Task ProbeAsync(string connectionString, CancellationToken ct)
    {
        await using var connection = OpenUnpooled(connectionString, timeoutSeconds: 2);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        await command.ExecuteScalarAsync(ct);
    }

    private async Task ExecuteAdminAsync(CancellationToken ct, params string[] statements)
    {
        await using var connection = OpenUnpooled(AdminConnectionString, timeoutSeconds: 10);
        await connection.OpenAsync(ct);
        foreach (string sql in statements)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(ct);
        }
    }

    // Database names go into SQL and connection strings; keeping them to plain identifiers means neither needs
    // escaping rules beyond double quotes.
    private static string QuoteDatabaseName(string name) =>
        DatabaseNamePattern().IsMatch(name)
            ? $"\"{name}\""
            : throw new ArgumentException(
                $"database name '{name}' must be 1-63 letters, digits or underscores, not starting with a digit",
                nameof(name));

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex DatabaseNamePattern();
}
