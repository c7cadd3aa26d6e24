using Npgsql;
using NpgsqlTypes;

namespace Dtx.HalfMessage;

public static partial class TxBrokerStore
{
    // ---------------------------------------------------------------- 4. dispatch (the Dispatcher's SQL)

    /// <summary>A committed message the dispatcher has claimed for publishing.</summary>
    public sealed record Dispatch(string TxId, string Queue, string Payload, int Attempt);

    /// <summary>
    /// Claims committed, not yet dispatched rows by taking a lease, in one short statement (no broker I/O under a
    /// row lock). The state is part of the condition, so a half message that is prepared, rolled back or parked can
    /// never be claimed, whatever the hand-off says: only a commit makes a message visible. With
    /// <paramref name="txIds"/> it claims just those (the hand-off after a commit), otherwise any due (polling).
    /// Only the dispatch-before-commit mutant passes <paramref name="includePrepared"/>.
    /// </summary>
    public static async Task<IReadOnlyList<Dispatch>> ClaimDispatchesAsync(NpgsqlDataSource db, string[]? txIds, int limit, TimeSpan lease, CancellationToken ct,
        bool includePrepared = false)
    {
        await using var claim = db.CreateCommand(includePrepared ? ClaimCommittedOrPrepared : ClaimCommitted);
        claim.Parameters.AddWithValue("lease", lease);
        claim.Parameters.AddWithValue("tx_ids", NpgsqlDbType.Array | NpgsqlDbType.Text, (object?)txIds ?? DBNull.Value);
        claim.Parameters.AddWithValue("limit", limit);
        var claimed = new List<Dispatch>();
        await using var reader = await claim.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            claimed.Add(new Dispatch(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3)));
        return claimed;
    }

    private const string ClaimCommitted = """
            UPDATE half_messages
            SET dispatch_lease_until = clock_timestamp() + @lease, dispatch_attempts = dispatch_attempts + 1
            WHERE tx_id IN (
                SELECT tx_id FROM half_messages
                WHERE state = 'committed' AND dispatched_at IS NULL
                  AND dispatch_due_at <= clock_timestamp()
                  AND (dispatch_lease_until IS NULL OR dispatch_lease_until < clock_timestamp())
                  AND (@tx_ids IS NULL OR tx_id = ANY(@tx_ids))
                ORDER BY dispatch_due_at
                LIMIT @limit
                FOR UPDATE SKIP LOCKED)
            RETURNING tx_id, queue, payload::text, dispatch_attempts
            """;

    /// <summary>The dispatch-before-commit mutant's claim: a prepared half is due from the moment it was stored.</summary>
    private const string ClaimCommittedOrPrepared = """
            UPDATE half_messages
            SET dispatch_lease_until = clock_timestamp() + @lease, dispatch_attempts = dispatch_attempts + 1
            WHERE tx_id IN (
                SELECT tx_id FROM half_messages
                WHERE state IN ('committed', 'prepared') AND dispatched_at IS NULL
                  AND coalesce(dispatch_due_at, prepared_at) <= clock_timestamp()
                  AND (dispatch_lease_until IS NULL OR dispatch_lease_until < clock_timestamp())
                  AND (@tx_ids IS NULL OR tx_id = ANY(@tx_ids))
                ORDER BY coalesce(dispatch_due_at, prepared_at)
                LIMIT @limit
                FOR UPDATE SKIP LOCKED)
            RETURNING tx_id, queue, payload::text, dispatch_attempts
            """;

    /// <summary>
    /// Logs publishes RabbitMQ has confirmed. Written before the rows are marked (with the relay.after-publish step
    /// in between), so that a crash in that window still leaves the first copy counted and the republish shows as
    /// a redispatch instead of passing unseen. One statement for a dispatcher pass's whole batch.
    /// </summary>
    public static async Task LogPublishAsync(NpgsqlDataSource db, IReadOnlyList<string> txIds, CancellationToken ct)
    {
        await using var log = db.CreateCommand("INSERT INTO dispatch_log (tx_id) SELECT unnest(@tx_ids)");
        log.Parameters.AddWithValue("tx_ids", txIds.ToArray());
        await log.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The messages are in RabbitMQ: their rows are finished and no dispatcher claims them again. One statement a batch.</summary>
    public static async Task MarkDispatchedAsync(NpgsqlDataSource db, IReadOnlyList<string> txIds, CancellationToken ct)
    {
        await using var mark = db.CreateCommand("""
            UPDATE half_messages SET dispatched_at = clock_timestamp(), dispatch_lease_until = NULL
            WHERE tx_id = ANY(@tx_ids) AND dispatched_at IS NULL
            """);
        mark.Parameters.AddWithValue("tx_ids", txIds.ToArray());
        await mark.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Gives a claimed row back after a failed publish, due again after <paramref name="backoff"/> so a broken broker is not hammered.</summary>
    public static async Task ReleaseDispatchAsync(NpgsqlDataSource db, string txId, TimeSpan backoff, CancellationToken ct)
    {
        await using var release = db.CreateCommand("""
            UPDATE half_messages SET dispatch_lease_until = NULL, dispatch_due_at = clock_timestamp() + @backoff
            WHERE tx_id = @tx_id AND dispatched_at IS NULL
            """);
        release.Parameters.AddWithValue("tx_id", txId);
        release.Parameters.AddWithValue("backoff", backoff);
        await release.ExecuteNonQueryAsync(ct);
    }
}
