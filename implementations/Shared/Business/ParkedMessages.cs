using Dtx.Shared.Messaging;
using Npgsql;
using RabbitMQ.Client.Events;

namespace Dtx.Shared.Business;

/// <summary>
/// Where a consumer parks a poison message: a table in its own database, beside the inbox, with what the message
/// said and why it could not be applied. Parking acks the delivery, so the messages behind it flow on; a person
/// (or the harness's result.json) finds it here.
/// </summary>
public static class ParkedMessages
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS parked_messages (
            queue        text NOT NULL,
            message_id   text,
            order_id     text,
            reason       text NOT NULL,
            attempts     int NOT NULL,
            body         text NOT NULL,
            first_tried_at timestamptz NOT NULL,
            parked_at    timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        """;

    public static async Task ParkAsync(NpgsqlDataSource db, string queue, BasicDeliverEventArgs delivery, PoisonMessageException poison, PoisonTries tries, CancellationToken ct)
    {
        await using var park = db.CreateCommand("""
            INSERT INTO parked_messages (queue, message_id, order_id, reason, attempts, body, first_tried_at)
            VALUES (@queue, @message_id, @order_id, @reason, @attempts, @body, @first_tried_at)
            """);
        park.Parameters.AddWithValue("queue", queue);
        park.Parameters.AddWithValue("message_id", (object?)delivery.BasicProperties.MessageId ?? DBNull.Value);
        park.Parameters.AddWithValue("order_id", (object?)poison.OrderId ?? DBNull.Value);
        park.Parameters.AddWithValue("reason", poison.Message);
        park.Parameters.AddWithValue("attempts", tries.Attempts);
        park.Parameters.AddWithValue("first_tried_at", tries.FirstTriedAt);
        park.Parameters.AddWithValue("body", System.Text.Encoding.UTF8.GetString(delivery.Body.Span));
        await park.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Reads an order message, or says why it is poison: not JSON, not an order, or an order that fails validation.
    /// A message the participant cannot read is not a failure that may pass, so it must not be retried forever.
    /// </summary>
    public static PlaceOrder ReadOrder(BasicDeliverEventArgs delivery)
    {
        PlaceOrder order;
        try
        {
            order = Json.Deserialize<PlaceOrder>(delivery.Body.Span);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new PoisonMessageException($"not an order message: {e.Message}");
        }
        if (order.Validate() is { } problem) throw new PoisonMessageException($"an invalid order: {problem}", order.OrderId);
        return order;
    }
}
