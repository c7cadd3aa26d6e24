using System.Net;
using Dtx.HalfMessage;
using Dtx.Tests.Support;
using Xunit;

namespace Dtx.Tests.HalfMessage;

/// <summary>
/// The txbroker killed (SIGKILL, by an armed failpoint) at its two named steps and restarted by the supervisor.
/// What it told anyone, and what it counted, must survive: the state is in its database, not its memory.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class TxBrokerCrashTests(ServersFixture servers)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_crash_between_the_confirmed_publish_and_its_mark_redispatches_with_the_same_message_id()
    {
        await using var producer = await FakeProducer.StartAsync();
        await using var rig = await TxBrokerRig.StartAsync(servers, txTimeout: "1s", failpoints: $"{Dispatcher.AfterPublish}=crash@once");
        // Some check-backs first, so that there are counts for the crash to lose (it must not).
        var undecided = TxBrokerRig.NewTxId();
        await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.PrepareAsync(undecided, producer.Url));
        var before = await Eventually.HoldsAsync(rig.StatsAsync, s => s.GetProperty("checkBacksAnswered").GetInt64() >= 2, Patience, "two answered checks");

        var txId = TxBrokerRig.NewTxId();
        await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.PrepareAsync(txId, producer.Url));
        try
        {
            // The commit is stored before the hand-off, so its answer may or may not get out before the crash.
            using var _ = await rig.CommitAsync(txId);
        }
        catch (HttpRequestException)
        {
        }
        await rig.RestartedAsync(1);

        // The restarted dispatcher finds the row committed, claimed once, never marked: it publishes it again.
        await Eventually.HoldsAsync(() => rig.TxAsync(txId), t => t.GetProperty("dispatchedAt").ValueKind == System.Text.Json.JsonValueKind.String,
            Patience, $"{txId} dispatched");
        var deliveries = await rig.DeliveredCountAsync(txId, 2, Patience);
        Assert.Equal(2, deliveries); // the copy confirmed before the crash, and the redispatch
        Assert.All(rig.Delivered, d => Assert.Equal(txId, d.MessageId)); // always the same id: the consumer dedupes on it
        var after = await rig.StatsAsync();
        Assert.True(after.GetProperty("checkBacksSent").GetInt64() >= before.GetProperty("checkBacksSent").GetInt64());
        Assert.True(after.GetProperty("checkBacksAnswered").GetInt64() >= before.GetProperty("checkBacksAnswered").GetInt64());
        Assert.Equal(1, after.GetProperty("dispatched").GetInt64());
        Assert.Equal(1, after.GetProperty("redispatched").GetInt64());
        Assert.Equal("committed", (await rig.TxAsync(txId)).GetProperty("state").GetString());
        Assert.Equal("prepared", (await rig.TxAsync(undecided)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_crash_after_persisting_a_half_message_fails_the_prepare_but_check_back_resolves_it()
    {
        await using var producer = await FakeProducer.StartAsync();
        await using var rig = await TxBrokerRig.StartAsync(servers, txTimeout: "1s", failpoints: $"{TxBroker.AfterPersist}=crash@once");
        var txId = TxBrokerRig.NewTxId();
        // The prepare fails for the producer, so it never runs its local transaction: asked, it answers rollback.
        producer.Answer(txId, "rollback");

        await Assert.ThrowsAsync<HttpRequestException>(() => rig.PrepareAsync(txId, producer.Url));
        await rig.RestartedAsync(1);

        // The half outlived the process that stored it, and is not left hanging: check-back cleans it up.
        var rolledBack = await rig.StateBecomesAsync(txId, "rolled-back", Patience);
        Assert.Equal("check-back", rolledBack.GetProperty("resolvedBy").GetString());
        Assert.Equal(1, rolledBack.GetProperty("checksSent").GetInt32());
        Assert.Equal(1, rolledBack.GetProperty("checksAnswered").GetInt32());
        Assert.Equal(1, producer.CallsFor(txId));
        await Task.Delay(TimeSpan.FromMilliseconds(600));
        Assert.Empty(rig.Delivered);
    }

    [Fact]
    public async Task After_a_crash_after_persisting_the_producers_retried_prepare_is_answered_and_its_commit_delivered_once()
    {
        await using var producer = await FakeProducer.StartAsync();
        await using var rig = await TxBrokerRig.StartAsync(servers, failpoints: $"{TxBroker.AfterPersist}=crash@once");
        var txId = TxBrokerRig.NewTxId();

        await Assert.ThrowsAsync<HttpRequestException>(() => rig.PrepareAsync(txId, producer.Url));
        await rig.RestartedAsync(1);
        // The producer retries the prepare whose answer it lost: the stored half is the same, so it is a success.
        await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.PrepareAsync(txId, producer.Url));
        Assert.True((await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.CommitAsync(txId))).GetProperty("resolvedNow").GetBoolean());

        await rig.DeliveredCountAsync(txId, 1, Patience);
        await Task.Delay(TimeSpan.FromMilliseconds(600));
        Assert.Equal(1, rig.DeliveriesOf(txId));
    }
}
