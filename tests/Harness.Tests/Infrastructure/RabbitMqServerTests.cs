using System.Diagnostics;
using System.Text;
using Dtx.Harness.Infrastructure;
using RabbitMQ.Client;
using Xunit;

namespace Dtx.Tests.Infrastructure;

[Collection(EmbeddedServersCollection.Name)]
public sealed class RabbitMqServerTests(EmbeddedServersFixture servers)
{
    private RabbitMqServer RabbitMq => servers.RabbitMq;

    [Fact]
    public async Task A_confirmed_persistent_message_survives_a_crash_of_the_broker()
    {
        const string queue = "crash-survival";
        byte[] body = Encoding.UTF8.GetBytes("order 42");
        string uriBefore = RabbitMq.AmqpUri;
        await using (var connection = await ConnectAsync())
        {
            // With confirmation tracking, BasicPublishAsync returns only once the broker has confirmed the message,
            // which for a persistent message on a durable queue means it is on disk.
            await using var channel = await connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { Persistent = true }, body);
        }

        // RabbitMQ 3.10 records a queue declaration in Mnesia without waiting for it to reach the disk log; a SIGKILL
        // within moments of the declare lost the queue (and its confirmed message) in about one run in five here.
        // The message's confirm is what this test is about, so the declaration gets time to settle first. One second
        // still lost it once on a busy machine: Erlang's delayed_write, which Mnesia's log uses, holds writes up to 2 s.
        await Task.Delay(TimeSpan.FromSeconds(3));
        await RabbitMq.CrashAsync();
        await RabbitMq.RestartAsync();

        Assert.Equal(uriBefore, RabbitMq.AmqpUri);
        await using (var connection = await ConnectAsync())
        {
            await using var channel = await connection.CreateChannelAsync();
            var message = await channel.BasicGetAsync(queue, autoAck: true);
            Assert.NotNull(message);
            Assert.Equal(body, message.Body.ToArray());
        }
    }

    [Fact]
    public async Task External_mode_uses_a_running_broker_and_disposing_it_leaves_the_broker_running()
    {
        var external = await RabbitMqServer.ConnectExternalAsync(RabbitMq.AmqpUri);
        Assert.False(external.IsEmbedded);
        Assert.Equal(RabbitMq.AmqpUri, external.AmqpUri);
        await Assert.ThrowsAsync<NotSupportedException>(() => external.CrashAsync());

        await external.DisposeAsync();

        await using var connection = await ConnectAsync();
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task External_mode_fails_fast_when_nothing_listens()
    {
        int closedPort = FreePort.Next();
        var stopwatch = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<InfrastructureUnavailableException>(() =>
            RabbitMqServer.ConnectExternalAsync($"amqp://guest:guest@127.0.0.1:{closedPort}/"));

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
        Assert.Contains($"127.0.0.1:{closedPort}", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("127.0.0.1:5672")]
    [InlineData("http://127.0.0.1:5672/")]
    public async Task External_mode_rejects_what_is_not_an_AMQP_URI(string uri)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => RabbitMqServer.ConnectExternalAsync(uri));
    }

    private Task<IConnection> ConnectAsync() =>
        new ConnectionFactory { Uri = new Uri(RabbitMq.AmqpUri), AutomaticRecoveryEnabled = false }.CreateConnectionAsync();
}
