using Npgsql;

namespace Dtx.Shared.Business;

/// <summary>
/// The idempotent receiver. The message id is inserted in the same transaction as the business effect, so a
/// redelivery either finds the id (and changes nothing) or the first attempt never committed (and this one is
/// the first). Brighter writes its inbox after the handler, in its own step, which leaves a window for both.
/// </summary>
public static class Inbox
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS inbox (
            consumer     text NOT NULL,
            message_id   uuid NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
            duplicates   int NOT NULL DEFAULT 0,
            PRIMARY KEY (consumer, message_id)
        );
        """;

    /// <summary>
    /// True when this is the first delivery. A concurrent duplicate blocks on the primary key until the first
    /// commits, then sees the conflict, so two copies can never both pass. A duplicate is counted, not dropped silently.
    /// </summary>
    public static async Task<bool> TryReceiveAsync(NpgsqlConnection db, NpgsqlTransaction tx, string consumer, Guid messageId, CancellationToken ct)
    {
        await using var receive = new NpgsqlCommand("""
            INSERT INTO inbox (consumer, message_id) VALUES (@consumer, @message_id)
            ON CONFLICT (consumer, message_id) DO UPDATE SET duplicates = inbox.duplicates + 1
            RETURNING duplicates = 0
            """, db, tx);
        receive.Parameters.AddWithValue("consumer", consumer);
        receive.Parameters.AddWithValue("message_id", messageId);
        return (bool)(await receive.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// <see cref="TryReceiveAsync"/> for a batch of deliveries, in two statements: for each position, true when it
    /// is the first delivery of its message id (not in the inbox before, and not an earlier position of this batch).
    /// Every other position is counted as a duplicate. The ids are inserted in sorted order, so that two batches
    /// sharing ids wait for each other in one order and cannot deadlock.
    /// </summary>
    public static async Task<bool[]> ReceiveAsync(NpgsqlConnection db, NpgsqlTransaction tx, string consumer, IReadOnlyList<Guid> messageIds, CancellationToken ct)
    {
        var distinct = messageIds.Distinct().Order().ToArray();
        var inserted = new HashSet<Guid>();
        await using (var receive = new NpgsqlCommand("""
            INSERT INTO inbox (consumer, message_id)
            SELECT @consumer, id FROM unnest(@message_ids) AS id ORDER BY id
            ON CONFLICT (consumer, message_id) DO NOTHING
            RETURNING message_id
            """, db, tx))
        {
            receive.Parameters.AddWithValue("consumer", consumer);
            receive.Parameters.AddWithValue("message_ids", distinct);
            await using var reader = await receive.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) inserted.Add(reader.GetGuid(0));
        }

        var first = new bool[messageIds.Count];
        var duplicates = new Dictionary<Guid, int>();
        for (var i = 0; i < messageIds.Count; i++)
        {
            // Remove, so that a second copy of a new id in this batch is a duplicate like any other.
            first[i] = inserted.Remove(messageIds[i]);
            if (!first[i]) duplicates[messageIds[i]] = duplicates.GetValueOrDefault(messageIds[i]) + 1;
        }
        if (duplicates.Count == 0) return first;

        await using var count = new NpgsqlCommand("""
            UPDATE inbox SET duplicates = inbox.duplicates + d.n
            FROM unnest(@message_ids, @counts) AS d(id, n)
            WHERE inbox.consumer = @consumer AND inbox.message_id = d.id
            """, db, tx);
        count.Parameters.AddWithValue("consumer", consumer);
        count.Parameters.AddWithValue("message_ids", duplicates.Keys.ToArray());
        count.Parameters.AddWithValue("counts", duplicates.Values.ToArray());
        await count.ExecuteNonQueryAsync(ct);
        return first;
    }
}
