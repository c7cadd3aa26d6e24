using Dtx.Harness.Infrastructure;
using Dtx.Shared.Sql;
using Npgsql;
using Xunit;

namespace Dtx.Tests.Support;

/// <summary>
/// One embedded PostgreSQL and one RabbitMQ for a whole test collection: starting them costs seconds, a fresh
/// database and queue prefix per test costs milliseconds and keeps the tests independent.
/// </summary>
public sealed class ServersFixture : IAsyncLifetime
{
    private readonly string _workDir = Path.Combine(Path.GetTempPath(), "dtx-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public PostgresServer Postgres { get; private set; } = null!;
    public RabbitMqServer RabbitMq { get; private set; } = null!;
    public string LogDir => Path.Combine(_workDir, "logs");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(LogDir);
        Postgres = await PostgresServer.StartEmbeddedAsync(Path.Combine(_workDir, "pg"), LogDir);
        RabbitMq = await RabbitMqServer.StartEmbeddedAsync(Path.Combine(_workDir, "rabbitmq"), LogDir);
    }

    /// <summary>A fresh database with these schemas applied, opened as the services open theirs: for a test that drives SQL steps by hand.</summary>
    public async Task<NpgsqlDataSource> ScratchDatabaseAsync(string name, params string[] schemas)
    {
        var database = $"{name}_{Guid.NewGuid():N}";
        var connectionString = await Postgres.CreateDatabaseAsync(database[..Math.Min(database.Length, 40)]);
        await Database.ApplySchemaAsync(connectionString, default, schemas);
        return Database.Open(connectionString, "test");
    }

    public async Task DisposeAsync()
    {
        if (RabbitMq is not null) await RabbitMq.DisposeAsync();
        if (Postgres is not null) await Postgres.DisposeAsync();
        try
        {
            Directory.Delete(_workDir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<ServersFixture>
{
    public const string Name = "servers";
}
