using Dtx.Harness.Infrastructure;
using Xunit;

namespace Dtx.Tests.Infrastructure;

/// <summary>One embedded PostgreSQL and one RabbitMQ for every test in the collection: starting them is the slow part.</summary>
public sealed class EmbeddedServersFixture : IAsyncLifetime
{
    public string WorkDir { get; } = TestDirectory.Create("servers");

    public PostgresServer Postgres { get; private set; } = null!;

    public RabbitMqServer RabbitMq { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var postgres = PostgresServer.StartEmbeddedAsync(Path.Combine(WorkDir, "work"), Path.Combine(WorkDir, "logs"));
        var rabbitMq = RabbitMqServer.StartEmbeddedAsync(Path.Combine(WorkDir, "work"), Path.Combine(WorkDir, "logs"));
        try
        {
            await Task.WhenAll(postgres, rabbitMq);
        }
        finally
        {
            // Keep what started even when the other failed, so DisposeAsync stops it.
            if (postgres.IsCompletedSuccessfully) Postgres = postgres.Result;
            if (rabbitMq.IsCompletedSuccessfully) RabbitMq = rabbitMq.Result;
        }
    }

    public async Task DisposeAsync()
    {
        if (Postgres is not null) await Postgres.DisposeAsync();
        if (RabbitMq is not null) await RabbitMq.DisposeAsync();
        TestDirectory.Delete(WorkDir);
    }
}

[CollectionDefinition(Name)]
public sealed class EmbeddedServersCollection : ICollectionFixture<EmbeddedServersFixture>
{
    public const string Name = "Embedded PostgreSQL and RabbitMQ";
}
