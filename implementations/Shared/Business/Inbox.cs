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
}
