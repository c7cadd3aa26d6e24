using Npgsql;

namespace Dtx.HalfMessage;

/// <summary>
/// The producer's record of its half-message transactions, in the same database as its business data. It is what
/// a check-back is answered from, and it is also the fence: a row per transaction id, written either by the local
/// transaction ("committed", visible only if that transaction commits) or by a check-back that found nothing
/// ("rolled-back"). The primary key makes the two exclusive, so check-back can never answer rollback for a
/// transaction that still goes on to commit.
/// </summary>
public static class TransactionLog
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS tx_log (
            tx_id        text PRIMARY KEY,
            order_id     text,
            state        text NOT NULL,   -- committed | rolled-back
            recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        """;

    public enum Answer { Commit, Rollback }

    /// <summary>
    /// Takes the transaction id inside the local transaction (the initiator sends it in one batch with its
    /// deduction): a check-back arriving before that transaction ends waits on this uncommitted row instead of deciding. Returns false when a check-back has
    /// already fenced the id: the local transaction must then abort, its half message is being rolled back.
    /// </summary>
    public static async Task<bool> BeginAsync(NpgsqlConnection db, NpgsqlTransaction tx, string txId, string orderId, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(db, tx) { BatchCommands = { BeginCommand(txId, orderId) } };
        return await batch.ExecuteScalarAsync(ct) is not null;
    }

    /// <summary>
    /// <see cref="BeginAsync"/> as a command for the caller's batch (the initiator sends it with its deduction, in one
    /// round trip): it returns the transaction id when it took it, and no row when a check-back has fenced it.
    /// </summary>
    public static NpgsqlBatchCommand BeginCommand(string txId, string orderId)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO tx_log (tx_id, order_id, state) VALUES (@tx_id, @order_id, 'committed')
            ON CONFLICT (tx_id) DO NOTHING
            RETURNING tx_id
            """);
        insert.Parameters.AddWithValue("tx_id", txId);
        insert.Parameters.AddWithValue("order_id", orderId);
        return insert;
    }

    /// <summary>Records, inside the local transaction, that it decided against its half message (e.g. a duplicate delivery).</summary>
    public static async Task MarkRolledBackAsync(NpgsqlConnection db, NpgsqlTransaction tx, string txId, CancellationToken ct)
    {
        await using var update = new NpgsqlCommand("UPDATE tx_log SET state = 'rolled-back' WHERE tx_id = @tx_id", db, tx);
        update.Parameters.AddWithValue("tx_id", txId);
        await update.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Answers a check-back. A row decides it. No row means the local transaction either never started or is still
    /// running without having reached its first statement: inserting "rolled-back" now fences it (its own insert
    /// will find the key taken), which makes rollback a safe answer. A local transaction that holds the row
    /// uncommitted makes this insert wait until it ends, then answer from what it did. Only the
    /// checkback-unfenced-rollback mutant passes <paramref name="fence"/> false, and answers rollback from a read alone.
    /// </summary>
    public static async Task<Answer> AnswerCheckAsync(NpgsqlDataSource db, string txId, CancellationToken ct, bool fence = true)
    {
        if (fence)
        {
            await using var insert = db.CreateCommand("""
                INSERT INTO tx_log (tx_id, state) VALUES (@tx_id, 'rolled-back')
                ON CONFLICT (tx_id) DO NOTHING
                """);
            insert.Parameters.AddWithValue("tx_id", txId);
            if (await insert.ExecuteNonQueryAsync(ct) == 1) return Answer.Rollback;
        }

        // A separate statement on purpose: under READ COMMITTED it takes a new snapshot, which sees the row of the
        // local transaction the insert just waited for. One statement (a CTE) would read with the snapshot from
        // before that wait and find nothing.
        await using var read = db.CreateCommand("SELECT state FROM tx_log WHERE tx_id = @tx_id");
        read.Parameters.AddWithValue("tx_id", txId);
        return await read.ExecuteScalarAsync(ct) switch
        {
            "committed" => Answer.Commit,
            "rolled-back" => Answer.Rollback,
            null when !fence => Answer.Rollback,
            var other => throw new InvalidDataException($"tx_log has no usable state for {txId} ({other ?? "no row"})"),
        };
    }
}
