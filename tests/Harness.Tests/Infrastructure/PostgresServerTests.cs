using System.Diagnostics;
using Dtx.Harness.Infrastructure;
using Npgsql;
using Xunit;

namespace Dtx.Tests.Infrastructure;

[Collection(EmbeddedServersCollection.Name)]
public sealed class PostgresServerTests(EmbeddedServersFixture servers)
{
    private PostgresServer Postgres => servers.Postgres;

    [Fact]
    public async Task A_committed_row_survives_a_crash_and_the_restart_keeps_the_port()
    {
        string database = await Postgres.CreateDatabaseAsync("crash_survival");
        await ExecuteAsync(database, "CREATE TABLE orders (id int PRIMARY KEY)");
        await using (var connection = await OpenAsync(database))
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await using var insert = new NpgsqlCommand("INSERT INTO orders VALUES (42)", connection, transaction);
            await insert.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
        }
        int port = new NpgsqlConnectionStringBuilder(Postgres.AdminConnectionString).Port;

        await Postgres.CrashAsync();
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenAsync(database));
        await Postgres.RestartAsync();

        Assert.Equal(port, new NpgsqlConnectionStringBuilder(Postgres.AdminConnectionString).Port);
        Assert.Equal(42, await ScalarAsync<int>(database, "SELECT id FROM orders"));
    }

    [Fact]
    public async Task CreateDatabaseAsync_starts_from_an_empty_database_and_DropDatabaseAsync_removes_it()
    {
        string database = await Postgres.CreateDatabaseAsync("recreated");
        await ExecuteAsync(database, "CREATE TABLE leftover (id int)");
        // An open session must not block the drop (WITH (FORCE)).
        await using var session = await OpenAsync(database);

        database = await Postgres.CreateDatabaseAsync("recreated");

        Assert.Equal(0L, await ScalarAsync<long>(database, "SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'"));
        await Postgres.DropDatabaseAsync("recreated");
        Assert.Equal(0L, await ScalarAsync<long>(Postgres.AdminConnectionString,
            "SELECT count(*) FROM pg_database WHERE datname = 'recreated'"));
    }

    [Fact]
    public async Task External_mode_uses_a_running_server_and_disposing_it_leaves_the_server_running()
    {
        var external = await PostgresServer.ConnectExternalAsync(Postgres.AdminConnectionString);
        Assert.False(external.IsEmbedded);
        string database = await external.CreateDatabaseAsync("external_mode");
        Assert.Equal(1, await ScalarAsync<int>(database, "SELECT 1"));
        await Assert.ThrowsAsync<NotSupportedException>(() => external.CrashAsync());

        await external.DisposeAsync();

        Assert.Equal(1, await ScalarAsync<int>(Postgres.AdminConnectionString, "SELECT 1"));
    }

    [Fact]
    public async Task External_mode_fails_fast_when_nothing_listens()
    {
        int closedPort = FreePort.Next();
        var stopwatch = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<InfrastructureUnavailableException>(() =>
            PostgresServer.ConnectExternalAsync($"Host=127.0.0.1;Port={closedPort};Username=postgres"));

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
        Assert.Contains($"127.0.0.1:{closedPort}", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("postgres://postgres@127.0.0.1:5432/postgres")]
    [InlineData("Hots=127.0.0.1")]
    [InlineData("Port=5432")]
    public async Task External_mode_rejects_a_malformed_connection_string(string connectionString)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => PostgresServer.ConnectExternalAsync(connectionString));
        Assert.DoesNotContain('\n', error.Message);
    }

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString)
    {
        // Unpooled: a pooled connection could be a dead one from before the crash.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        try
        {
            await connection.OpenAsync();
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = await OpenAsync(connectionString);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = await OpenAsync(connectionString);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
