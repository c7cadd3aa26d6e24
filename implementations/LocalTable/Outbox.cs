using Npgsql;
using NpgsqlTypes;

namespace Dtx.LocalTable;

/// <summary>
/// The local message table. A message is inserted in the same transaction as the business change it announces,
/// so either both exist or neither does; the <see cref="Relay"/> then takes it to the broker. A row stays until
/// its work is finished: deleted once published (for a reply), or once the answer has come back (for an order,
/// whose row therefore doubles as the timer for republishing when the answer is late).
/// </summary>
public static class Outbox
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS outbox (
            id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            message_id       uuid NOT NULL UNIQUE,
            queue            text NOT NULL,
            body             jsonb NOT NULL,
            await_reply      boolean NOT NULL,
            created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
            next_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            -- Who is publishing it right now, and until when. A relay that dies keeps its rows only until the lease
            -- ends; that replaces CAP's age-based lookback, which resends a row whose transaction is merely slow.
            lease_until      timestamptz,
            attempts         int NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at, id);
        -- Every confirmed publish, for the run's figures: republishes are rows beyond the first per message.
        CREATE TABLE IF NOT EXISTS publish_log (
            message_id    uuid NOT NULL,
            published_at  timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        """;

    public sealed record Message(long Id, Guid MessageId, string Queue, string Body, bool AwaitReply, int Attempts);

    /// <summary>
    /// How often the wait for a late reply doubles: replyTimeout, then 2×, 4×, 8× it. A reply is late because its order
    /// or reply is lost (the first republish repairs that) or because the pipeline is behind; a fixed wait then
    /// republishes every waiting order every replyTimeout, so the copies per late order grow with the backlog's age.
    /// Measured over ten minutes at 1,000 orders/s (one run each): 683,102 republishes with a fixed wait, 574,486 with
    /// this one, and no faster drain (see the README's bench section).
    /// </summary>
    public const int MaxReplyTimeoutDoublings = 3;

    /// <summary>Adds a message in the caller's transaction and returns its row id, for the relay's hand-off.</summary>
    public static async Task<long> EnqueueAsync(NpgsqlConnection db, NpgsqlTransaction tx, Guid messageId, string queue, byte[] body, bool awaitReply, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(db, tx) { BatchCommands = { EnqueueCommand(messageId, queue, body, awaitReply) } };
        return await batch.ExecuteScalarAsync(ct) as long? ?? throw new InvalidOperationException($"message {messageId} is already in the outbox");
    }

    /// <summary>
    /// <see cref="EnqueueAsync"/> as a command for the caller's batch (the initiator sends it with the deduction, in one
    /// round trip); it returns the row id. A message id already there inserts nothing and returns no row instead of
    /// failing the batch: the batch then belongs to a repeated order, which the caller rolls back.
    /// </summary>
    public static NpgsqlBatchCommand EnqueueCommand(Guid messageId, string queue, byte[] body, bool awaitReply)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO outbox (message_id, queue, body, await_reply) VALUES (@message_id, @queue, @body, @await_reply)
            ON CONFLICT (message_id) DO NOTHING
            RETURNING id
            """);
        insert.Parameters.AddWithValue("message_id", messageId);
        insert.Parameters.AddWithValue("queue", queue);
        insert.Parameters.AddWithValue("body", NpgsqlDbType.Jsonb, System.Text.Encoding.UTF8.GetString(body));
        insert.Parameters.AddWithValue("await_reply", awaitReply);
        return insert;
    }

    /// <summary><see cref="EnqueueAsync"/> for several messages, in one statement; returns their row ids, in the messages' order.</summary>
    public static async Task<long[]> EnqueueAsync(NpgsqlConnection db, NpgsqlTransaction tx, IReadOnlyList<(Guid MessageId, string Queue, byte[] Body, bool AwaitReply)> messages, CancellationToken ct)
    {
        await using var insert = new NpgsqlCommand("""
            INSERT INTO outbox (message_id, queue, body, await_reply)
            SELECT m, q, b::jsonb, a FROM unnest(@message_ids, @queues, @bodies, @await_replies) AS x(m, q, b, a)
            RETURNING message_id, id
            """, db, tx);
        insert.Parameters.AddWithValue("message_ids", messages.Select(m => m.MessageId).ToArray());
        insert.Parameters.AddWithValue("queues", messages.Select(m => m.Queue).ToArray());
        insert.Parameters.AddWithValue("bodies", messages.Select(m => System.Text.Encoding.UTF8.GetString(m.Body)).ToArray());
        insert.Parameters.AddWithValue("await_replies", messages.Select(m => m.AwaitReply).ToArray());
        // RETURNING promises no order: matched by message id, unique in the table.
        var ids = new Dictionary<Guid, long>(messages.Count);
        await using (var reader = await insert.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) ids[reader.GetGuid(0)] = reader.GetInt64(1);
        return [.. messages.Select(m => ids[m.MessageId])];
    }

    /// <summary>
    /// Claims rows for publishing by taking a lease in one short statement. The row lock lasts only as long as
    /// that statement, never across broker I/O (MassTransit's delivery loop holds it while it sends). With
    /// <paramref name="ids"/> it claims just those rows (the hand-off after a commit); otherwise up to
    /// <paramref name="limit"/> due rows, skipping any another relay holds (the polling fallback).
    /// </summary>
    public static async Task<IReadOnlyList<Message>> ClaimAsync(NpgsqlDataSource db, long[]? ids, int limit, TimeSpan lease, CancellationToken ct)
    {
        await using var claim = db.CreateCommand("""
            UPDATE outbox SET lease_until = clock_timestamp() + @lease, attempts = attempts + 1
            WHERE id IN (
                SELECT id FROM outbox
                WHERE next_attempt_at <= clock_timestamp()
                  AND (lease_until IS NULL OR lease_until < clock_timestamp())
                  AND (@ids IS NULL OR id = ANY(@ids))
                ORDER BY next_attempt_at, id
                LIMIT @limit
                FOR UPDATE SKIP LOCKED)
            RETURNING id, message_id, queue, body::text, await_reply, attempts
            """);
        claim.Parameters.AddWithValue("lease", lease);
        claim.Parameters.AddWithValue("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint, (object?)ids ?? DBNull.Value);
        claim.Parameters.AddWithValue("limit", limit);
        var claimed = new List<Message>();
        await using var reader = await claim.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            claimed.Add(new Message(reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4), reader.GetInt32(5)));
        return claimed;
    }

    /// <summary>
    /// Records that the broker confirmed the messages. A reply is finished and goes; an order stays, due again
    /// after <paramref name="replyTimeout"/>: if no answer has deleted it by then, the relay publishes it again.
    /// Each further attempt waits twice as long as the one before, up to <see cref="MaxReplyTimeoutDoublings"/>
    /// doublings. One statement for a relay pass's whole batch: a statement per message cost the relay two
    /// transactions an order.
    /// </summary>
    public static async Task MarkPublishedAsync(NpgsqlDataSource db, IReadOnlyList<Message> messages, TimeSpan replyTimeout, CancellationToken ct)
    {
        // Rows locked in id order first, as CompleteAsync locks them for a batch of replies: see there.
        await using var mark = db.CreateCommand("""
            WITH locked AS (SELECT id FROM outbox WHERE id = ANY(@finished) OR id = ANY(@awaiting) ORDER BY id FOR UPDATE),
            finished AS (DELETE FROM outbox WHERE id = ANY(@finished) AND id IN (SELECT id FROM locked))
            UPDATE outbox SET lease_until = NULL,
                next_attempt_at = clock_timestamp() + @reply_timeout * power(2, least(attempts - 1, @max_doublings))
            WHERE id = ANY(@awaiting) AND id IN (SELECT id FROM locked)
            """);
        mark.Parameters.AddWithValue("max_doublings", MaxReplyTimeoutDoublings);
        // Which rows await a reply is the relay's word, not the column's: the no-republish mutant says none do.
        mark.Parameters.AddWithValue("finished", messages.Where(m => !m.AwaitReply).Select(m => m.Id).ToArray());
        mark.Parameters.AddWithValue("awaiting", messages.Where(m => m.AwaitReply).Select(m => m.Id).ToArray());
        mark.Parameters.AddWithValue("reply_timeout", replyTimeout);
        await mark.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Records publishes the broker confirmed, before their rows are marked: a relay that dies between the two (the
    /// <c>relay.after-publish</c> step) has still published once, and its successor's publish counts as a republish.
    /// </summary>
    public static async Task LogPublishedAsync(NpgsqlDataSource db, IReadOnlyList<Message> messages, CancellationToken ct)
    {
        await using var log = db.CreateCommand("INSERT INTO publish_log (message_id) SELECT unnest(@message_ids)");
        log.Parameters.AddWithValue("message_ids", messages.Select(m => m.MessageId).ToArray());
        await log.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Gives a claimed row back after a failed publish, with a back-off so a broken broker is not hammered.</summary>
    public static async Task ReleaseAsync(NpgsqlDataSource db, Message message, TimeSpan backoff, CancellationToken ct)
    {
        await using var release = db.CreateCommand(
            "UPDATE outbox SET lease_until = NULL, next_attempt_at = clock_timestamp() + @backoff WHERE id = @id");
        release.Parameters.AddWithValue("id", message.Id);
        release.Parameters.AddWithValue("backoff", backoff);
        await release.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The answers to these messages have arrived: their rows are done, in the caller's transaction, in one statement.</summary>
    public static async Task CompleteAsync(NpgsqlConnection db, NpgsqlTransaction tx, IReadOnlyList<Guid> messageIds, CancellationToken ct)
    {
        if (messageIds.Count == 0) return;
        // Locked in id order, as MarkPublishedAsync locks them: two statements that each lock several rows in their
        // own order can deadlock (a batch of replies against a relay marking the same orders republished).
        await using var delete = new NpgsqlCommand("""
            DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE message_id = ANY(@message_ids) ORDER BY id FOR UPDATE)
            """, db, tx);
        delete.Parameters.AddWithValue("message_ids", messageIds.ToArray());
        await delete.ExecuteNonQueryAsync(ct);
    }
}
