using System.Net;
using System.Text.Json;
using Dtx.Tests.Support;
using Xunit;

namespace Dtx.Tests.HalfMessage;

/// <summary>
/// The txbroker driven by the producer alone (no check-back: tx-timeout is long here). A half message is
/// invisible until committed, then delivered once with its txId as message id; the first resolution wins, a
/// repeat of it is an idempotent success that says so, the opposite one is refused — none of which RocketMQ's
/// broker guarantees (#5574: a second commit delivers twice; #8158, #2694: a commit after a rollback commits).
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class TxBrokerResolutionTests(ServersFixture servers)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(600); // several dispatcher poll intervals
    private const string NoProducer = "http://127.0.0.1:9"; // never called: nothing here gets old enough to be checked

    [Fact]
    public async Task A_committed_half_message_is_delivered_once_and_a_repeated_commit_is_an_idempotent_success()
    {
        await using var rig = await TxBrokerRig.StartAsync(servers);
        var txId = TxBrokerRig.NewTxId();

        var prepared = await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.PrepareAsync(txId, NoProducer, new { orderId = "o-1", qty = 3 }));
        Assert.Equal("prepared", prepared.GetProperty("state").GetString());
        Assert.Equal(txId, prepared.GetProperty("txId").GetString());
        // Stored, but invisible: nothing may reach the queue before the commit.
        await Task.Delay(Settle);
        Assert.Empty(rig.Delivered);
        Assert.Equal("prepared", (await rig.TxAsync(txId)).GetProperty("state").GetString());

        var committed = await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.CommitAsync(txId));
        Assert.Equal("committed", committed.GetProperty("state").GetString());
        Assert.True(committed.GetProperty("resolvedNow").GetBoolean());

        await rig.DeliveredCountAsync(txId, 1, Patience);
        var (messageId, body) = Assert.Single(rig.Delivered);
        Assert.Equal(txId, messageId);
        var payload = JsonSerializer.Deserialize<JsonElement>(body);
        Assert.Equal("o-1", payload.GetProperty("orderId").GetString());
        Assert.Equal(3, payload.GetProperty("qty").GetInt32());

        // The producer retries a commit whose answer it lost: success, but explicitly not a second resolution.
        var again = await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.CommitAsync(txId));
        Assert.Equal("committed", again.GetProperty("state").GetString());
        Assert.False(again.GetProperty("resolvedNow").GetBoolean());
        // The opposite decision comes too late: refused, with the state that won.
        var refused = await TxBrokerRig.ExpectAsync(HttpStatusCode.Conflict, rig.RollbackAsync(txId));
        Assert.Equal("committed", refused.GetProperty("state").GetString());
        Assert.False(refused.GetProperty("resolvedNow").GetBoolean());
        Assert.True(refused.TryGetProperty("error", out _));

        await rig.StaysAsync(txId, 1, Settle);
        var tx = await rig.TxAsync(txId);
        Assert.Equal("committed", tx.GetProperty("state").GetString());
        Assert.Equal("inventory", tx.GetProperty("producerGroup").GetString());
        Assert.Equal(rig.Queue, tx.GetProperty("queue").GetString());
        Assert.Equal(0, tx.GetProperty("checksSent").GetInt32());
        Assert.Equal(JsonValueKind.String, tx.GetProperty("resolvedAt").ValueKind);
        Assert.Equal(JsonValueKind.String, tx.GetProperty("dispatchedAt").ValueKind);
        var stats = await rig.StatsAsync();
        Assert.Equal(1, stats.GetProperty("dispatched").GetInt64());
        Assert.Equal(0, stats.GetProperty("redispatched").GetInt64());
        Assert.Equal(0, stats.GetProperty("checkBacksSent").GetInt64());
    }

    [Fact]
    public async Task A_rolled_back_half_message_is_never_delivered_and_cannot_be_committed_afterwards()
    {
        await using var rig = await TxBrokerRig.StartAsync(servers);
        var txId = TxBrokerRig.NewTxId();
        await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.PrepareAsync(txId, NoProducer));

        var rolledBack = await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.RollbackAsync(txId));
        Assert.Equal("rolled-back", rolledBack.GetProperty("state").GetString());
        Assert.True(rolledBack.GetProperty("resolvedNow").GetBoolean());
        var again = await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.RollbackAsync(txId));
        Assert.False(again.GetProperty("resolvedNow").GetBoolean());
        var refused = await TxBrokerRig.ExpectAsync(HttpStatusCode.Conflict, rig.CommitAsync(txId));
        Assert.Equal("rolled-back", refused.GetProperty("state").GetString());
        Assert.False(refused.GetProperty("resolvedNow").GetBoolean());

        await Task.Delay(Settle);
        Assert.Empty(rig.Delivered);
        var tx = await rig.TxAsync(txId);
        Assert.Equal("rolled-back", tx.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, tx.GetProperty("dispatchedAt").ValueKind);
        Assert.Equal(0, (await rig.StatsAsync()).GetProperty("dispatched").GetInt64());
    }

    [Fact]
    public async Task Prepares_and_resolutions_racing_for_the_same_txIds_still_resolve_each_transaction_once()
    {
        await using var rig = await TxBrokerRig.StartAsync(servers);
        var txIds = Enumerable.Range(0, 40).Select(_ => TxBrokerRig.NewTxId()).ToArray();

        // All at once: each txId prepared twice (a producer's retry racing its first
        // attempt: both answered 200), and a different message under every fourth txId (refused, whichever came first).
        var prepares = txIds.SelectMany((t, i) => new[]
        {
            (TxId: t, Other: false, Call: rig.PrepareAsync(t, NoProducer, new { orderId = t })),
            (TxId: t, Other: false, Call: rig.PrepareAsync(t, NoProducer, new { orderId = t })),
        }.Concat(i % 4 == 0 ? [(TxId: t, Other: true, Call: rig.PrepareAsync(t, NoProducer, new { orderId = "another" }))] : [])).ToArray();
        var prepared = (await Task.WhenAll(prepares.Select(p => p.Call))).Select((response, i) => (prepares[i].TxId, prepares[i].Other, response.StatusCode));
        foreach (var calls in prepared.GroupBy(p => p.TxId))
        {
            var ok = calls.Where(p => p.StatusCode == HttpStatusCode.OK).ToArray();
            // Whichever message was stored first, every prepare of that message was answered 200 and every other one 409.
            Assert.True(ok.Length > 0 && ok.All(p => p.Other == ok[0].Other), calls.Key);
            Assert.All(calls.Except(ok), p => Assert.Equal(HttpStatusCode.Conflict, p.StatusCode));
        }
        Assert.Equal(txIds.Length, (await rig.StatsAsync()).GetProperty("prepared").GetInt64());

        // Even txIds committed twice at once; odd ones committed and rolled back at once: the first resolution wins.
        var resolutions = txIds.SelectMany((t, i) => new[] { (TxId: t, Call: rig.CommitAsync(t)), (TxId: t, Call: i % 2 == 0 ? rig.CommitAsync(t) : rig.RollbackAsync(t)) }).ToArray();
        var responses = await Task.WhenAll(resolutions.Select(r => r.Call));
        var resolved = await Task.WhenAll(responses.Select(async (response, i) => (resolutions[i].TxId, response.StatusCode, Body: await TxBrokerRig.BodyAsync(response))));
        foreach (var calls in resolved.GroupBy(r => r.TxId))
        {
            // Exactly one call moved the transaction; the other was told so, as a repeat (200) or a contradiction (409).
            Assert.Equal(1, calls.Count(r => r.Body.TryGetProperty("resolvedNow", out var now) && now.GetBoolean()));
            Assert.All(calls, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict }));
        }

        // Every committed one is delivered once (its stored message, not the reused id's other one, when that lost).
        foreach (var txId in txIds)
        {
            var state = (await rig.TxAsync(txId)).GetProperty("state").GetString();
            if (state == "committed") await rig.DeliveredCountAsync(txId, 1, Patience);
            else Assert.Equal("rolled-back", state);
        }
        await Task.Delay(Settle);
        Assert.All(txIds, t => Assert.True(rig.DeliveriesOf(t) <= 1, t));
        Assert.All(txIds.Where((_, i) => i % 2 == 0), t => Assert.Equal(1, rig.DeliveriesOf(t)));
    }

    [Fact]
    public async Task Prepare_is_idempotent_for_the_same_message_and_refuses_everything_else()
    {
        await using var rig = await TxBrokerRig.StartAsync(servers);
        var txId = TxBrokerRig.NewTxId();

        await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.PrepareAsync(txId, NoProducer, new { orderId = "o-2", qty = 1 }));
        // The producer retries a prepare whose answer it lost: the same half message, so the same answer.
        var repeat = await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.PrepareAsync(txId, NoProducer, new { orderId = "o-2", qty = 1 }));
        Assert.Equal("prepared", repeat.GetProperty("state").GetString());
        // The same txId with another payload is another transaction under a reused id.
        var other = await TxBrokerRig.ExpectAsync(HttpStatusCode.Conflict, rig.PrepareAsync(txId, NoProducer, new { orderId = "o-2", qty = 2 }));
        Assert.Equal("prepared", other.GetProperty("state").GetString());
        Assert.True(other.TryGetProperty("error", out _));
        // Once resolved, the id is taken for good.
        await TxBrokerRig.ExpectAsync(HttpStatusCode.OK, rig.CommitAsync(txId));
        var late = await TxBrokerRig.ExpectAsync(HttpStatusCode.Conflict, rig.PrepareAsync(txId, NoProducer, new { orderId = "o-2", qty = 1 }));
        Assert.Equal("committed", late.GetProperty("state").GetString());

        // Unknown transactions: 404 with an error, never a silent success.
        var unknown = TxBrokerRig.NewTxId();
        Assert.True((await TxBrokerRig.ExpectAsync(HttpStatusCode.NotFound, rig.CommitAsync(unknown))).TryGetProperty("error", out _));
        await TxBrokerRig.ExpectAsync(HttpStatusCode.NotFound, rig.RollbackAsync(unknown));
        await TxBrokerRig.ExpectAsync(HttpStatusCode.NotFound, rig.GetAsync($"/tx/{unknown}"));
        await TxBrokerRig.ExpectAsync(HttpStatusCode.NotFound, rig.ResumeAsync(unknown));
        // Resuming what is not parked is refused with the state it is in.
        Assert.Equal("committed", (await TxBrokerRig.ExpectAsync(HttpStatusCode.Conflict, rig.ResumeAsync(txId))).GetProperty("state").GetString());

        // Malformed prepares: 400 with a reason, and nothing stored.
        foreach (var bad in new[]
        {
            """{"producerGroup":"g","queue":"q","payload":{},"checkBackUrl":"http://127.0.0.1:9"}""",
            """{"txId":"a/b","producerGroup":"g","queue":"q","payload":{},"checkBackUrl":"http://127.0.0.1:9"}""",
            """{"txId":"x1","queue":"q","payload":{},"checkBackUrl":"http://127.0.0.1:9"}""",
            """{"txId":"x1","producerGroup":"g","payload":{},"checkBackUrl":"http://127.0.0.1:9"}""",
            """{"txId":"x1","producerGroup":"g","queue":"q","checkBackUrl":"http://127.0.0.1:9"}""",
            """{"txId":"x1","producerGroup":"g","queue":"q","payload":{},"checkBackUrl":"not a url"}""",
            """{"txId":"x1","producerGroup":"g","queue":"q","payload":{},"checkBackUrl":"ftp://127.0.0.1/"}""",
            """{"txId":"x1", """,
            """[1,2]""",
        })
        {
            var error = await TxBrokerRig.ExpectAsync(HttpStatusCode.BadRequest, rig.PostRawAsync("/tx/prepare", bad));
            Assert.True(error.TryGetProperty("error", out _), bad);
        }
        await TxBrokerRig.ExpectAsync(HttpStatusCode.NotFound, rig.GetAsync("/tx/x1"));

        // Through all of that, the one committed message went out once.
        await rig.DeliveredCountAsync(txId, 1, Patience);
        await rig.StaysAsync(txId, 1, Settle);
        Assert.Single(rig.Delivered);
    }
}
