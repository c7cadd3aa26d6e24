using Dtx.LocalTable;
using Dtx.Shared.Sql;
using Dtx.Tests.Support;
using Xunit;

namespace Dtx.Tests.LocalTable;

/// <summary>The outbox's timer for a late reply, driven by hand on real PostgreSQL.</summary>
[Collection(ServersCollection.Name)]
public sealed class OutboxTests(ServersFixture servers)
{
    [Fact]
    public async Task Each_republish_of_an_order_waits_twice_as_long_as_the_one_before_up_to_eight_times_the_reply_timeout()
    {
        await using var db = await servers.ScratchDatabaseAsync("outbox", Outbox.Schema);
        await using (var connection = await db.OpenConnectionAsync())
        await using (var tx = await connection.BeginTransactionAsync())
        {
            await Outbox.EnqueueAsync(connection, tx, Guid.NewGuid(), "orders", "{}"u8.ToArray(), awaitReply: true, default);
            await tx.CommitAsync();
        }
        var replyTimeout = TimeSpan.FromSeconds(10);

        var waits = new List<double>();
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            // Due now, as if its wait had passed with no reply: the relay claims it again and publishes it again.
            await Database.ExecuteAsync(db, "UPDATE outbox SET next_attempt_at = clock_timestamp() - interval '1 second'");
            var claimed = Assert.Single(await Outbox.ClaimAsync(db, null, limit: 10, lease: TimeSpan.FromMinutes(1), default));
            Assert.Equal(attempt, claimed.Attempts);
            await Outbox.MarkPublishedAsync(db, [claimed], replyTimeout, default);
            await using var wait = db.CreateCommand("SELECT extract(epoch FROM next_attempt_at - clock_timestamp())::float8 FROM outbox");
            waits.Add((double)(await wait.ExecuteScalarAsync())!);
        }

        double[] expected = [10, 20, 40, 80, 80];
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(waits[i] - expected[i]) < 2, $"attempt {i + 1} waits {waits[i]:0.0} s, expected {expected[i]} s: {string.Join(", ", waits.Select(w => w.ToString("0.0")))}");
    }
}
