using Dtx.LocalTable;
using Dtx.Shared.Business;
using Dtx.Shared.Messaging;
using Dtx.Harness.Implementations;
using Dtx.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Dtx.Tests.LocalTable;

/// <summary>The participant's inbox against the broker's redelivery, driven by hand: the same message, several times, at once.</summary>
[Collection(ServersCollection.Name)]
public sealed class InboxDedupeTests(ServersFixture servers)
{
    [Fact]
    public async Task The_same_message_delivered_five_times_concurrently_is_applied_once()
    {
        await using var rig = await Rig.StartAsync(servers, new LocalTableImplementation());
        await using var amqp = await AmqpConnection.ConnectAsync(servers.RabbitMq.AmqpUri, "test", NullLogger.Instance, TimeSpan.FromSeconds(10), default);
        await using var publisher = await amqp.CreatePublisherAsync(default);
        var order = new PlaceOrder("o-dup", "sku-01", 3, "c-7");
        var messageId = MessageIds.ForOrder(order.OrderId).ToString();

        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => publisher.PublishAsync(QueueNames.For(rig.Target.QueuePrefix).Orders, messageId, Json.Serialize(order), default)));

        await Eventually.HoldsAsync(() => rig.OrdersAsync("SELECT coalesce(sum(duplicates), 0) FROM inbox"), n => n == 4, TimeSpan.FromSeconds(20), "four duplicates counted");
        Assert.Equal(1, await rig.OrdersAsync("SELECT count(*) FROM order_applications WHERE order_id = 'o-dup'"));
        Assert.Equal(3, await rig.OrdersAsync("SELECT total FROM customer_spend WHERE customer_id = 'c-7'"));
    }

    [Fact]
    public async Task A_publish_to_a_queue_that_does_not_exist_fails_instead_of_vanishing()
    {
        await using var amqp = await AmqpConnection.ConnectAsync(servers.RabbitMq.AmqpUri, "test", NullLogger.Instance, TimeSpan.FromSeconds(10), default);
        await using var publisher = await amqp.CreatePublisherAsync(default);

        await Assert.ThrowsAnyAsync<Exception>(() => publisher.PublishAsync("no-such-queue-" + Guid.NewGuid(), Guid.NewGuid().ToString(), "{}"u8.ToArray(), default));
    }
}
