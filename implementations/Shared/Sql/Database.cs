using Npgsql;

namespace Dtx.Shared.Sql;

/// <summary>The few database chores every role does the same way.</summary>
public static class Database
{
    /// <summary>A pooled data source whose connections name the role, so that pg_stat_activity shows who holds what.</summary>
    public static NpgsqlDataSource Open(string connectionString, string applicationName)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.ApplicationName = applicationName;
        // A crashed PostgreSQL leaves dead sockets in the pool; this retires them instead of failing every request after a restart.
        builder.ConnectionStringBuilder.ConnectionLifetime = 60;
        // No role keeps session state of its own (no SET, temporary table or session advisory lock), so the DISCARD ALL
        // Npgsql sends when a pooled connection is reused only cost a round trip and a transaction: bench measured 7.7
        // of them per order. It would also drop the statements Npgsql prepares (below), which are meant to stay. An
        // open transaction is still rolled back when a connection goes back to the pool.
        builder.ConnectionStringBuilder.NoResetOnClose = true;
        // At most 20 connections a service (Npgsql's default is 100): PostgreSQL on two cores does no more work with
        // more, and a restarted initiator's first burst of requests opened up to 100 at once (a backend forked for each,
        // 20 transactions left idle holding the hot stock rows' locks, 17 waiting on them), so that half-message never
        // got back to pace between crashes: crash-after-commit created 7 to 57 of its 640 orders, 172 to 202 with 20.
        builder.ConnectionStringBuilder.MaxPoolSize = 20;
        // Statements a role runs again and again are prepared once per connection: PostgreSQL then skips the parse
        // and plan it otherwise does for every one of them (the database was the limiter at 1,000 orders/s).
        builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        return builder.Build();
    }

    public static async Task ExecuteAsync(NpgsqlDataSource db, string sql, CancellationToken ct = default)
    {
        await using var command = db.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Applies schema text made of <c>CREATE … IF NOT EXISTS</c> statements: safe to run at every start.</summary>
    public static async Task ApplySchemaAsync(string connectionString, CancellationToken ct, params string[] schemas)
    {
        await using var db = Open(connectionString, "schema");
        foreach (var schema in schemas) await ExecuteAsync(db, schema, ct);
    }
}
