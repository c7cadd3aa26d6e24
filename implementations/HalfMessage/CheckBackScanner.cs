using System.Net.Http.Json;
using System.Text.Json;
using Dtx.Shared.Business;
using Microsoft.Extensions.Logging;
using Npgsql;
using static Dtx.HalfMessage.TxBrokerStore;

namespace Dtx.HalfMessage;

/// <summary>
/// Resolves half messages whose producer never said commit or rollback — it crashed, or its answer was lost —
/// by asking it: <c>POST {checkBackUrl}/checkback/{txId}</c>, answered <c>{"state":"commit"|"rollback"|"unknown"}</c>.
/// Every scan interval it
/// <list type="number">
/// <item>claims the due checks in one short statement (<see cref="TxBrokerStore.ClaimDueChecksAsync"/>): prepared,
///   older than tx-timeout by the database clock, next check due; the claim counts the check as sent;</item>
/// <item>asks the producers concurrently, outside any lock: the instance that prepared the transaction first, and
///   only when that one cannot be reached, the group's other instances, most recently seen first;</item>
/// <item>applies each answer with a compare-and-set from prepared (<see cref="TxBrokerStore.ApplyCheckAnswerAsync"/>):
///   commit (and hand-off to the dispatcher), rollback, or still prepared — parked as needs-attention after the
///   round's last check.</item>
/// </list>
/// Checks are keyed by txId alone. RocketMQ keys them by half-queue offsets that change with every check, so a late
/// commit misses the live copy and it is checked, and committed, again (#8158).
/// </summary>
public sealed class CheckBackScanner(NpgsqlDataSource db, Dispatcher dispatcher, TxBroker.Settings settings, ILogger<CheckBackScanner> log)
{
    /// <summary>At most this many checks in flight at once; the claim takes no more than there is room for.</summary>
    private const int MaxInFlight = 64;

    /// <summary>Instances asked per check: the preparing one and at most this many others of its group.</summary>
    private const int MaxFallbacks = 2;

    // A fresh connection per check: a producer restarted on the same port would make a kept-alive connection to
    // its dead predecessor fail the next check, which would count as unanswered for no reason. Checks are rare
    // (only transactions nobody resolved), so the handshake costs nothing that matters.
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero })
    {
        Timeout = Timeout.InfiniteTimeSpan, // each call has its own deadline, check-request-timeout
        DefaultRequestHeaders = { ConnectionClose = true },
    };

    private int _inFlight;

    /// <summary>
    /// How long one check may take at most: every instance it may ask, each with its own timeout. The claim moves
    /// the next check past this, so one transaction is never checked twice at once, however slow its producer.
    /// </summary>
    private TimeSpan CheckDeadline => settings.CheckRequestTimeout * (1 + MaxFallbacks) + TimeSpan.FromSeconds(1);

    public Task StartAsync(CancellationToken stopping)
    {
        _ = Task.Run(() => ScanLoopAsync(stopping), stopping);
        return Task.CompletedTask;
    }

    private async Task ScanLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var room = MaxInFlight - Volatile.Read(ref _inFlight);
                if (room > 0)
                {
                    // Step 1: claim. The claim's statement has committed before any producer is called.
                    var due = await ClaimDueChecksAsync(db, settings.TxTimeout,
                        settings.CheckInterval > CheckDeadline ? settings.CheckInterval : CheckDeadline, room, stopping);
                    // Steps 2 and 3 run in the background, so a producer that hangs delays only its own transactions.
                    foreach (var check in due)
                    {
                        Interlocked.Increment(ref _inFlight);
                        _ = Task.Run(() => CheckAsync(check, stopping), stopping);
                    }
                }
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                // The database is down or restarting: nothing was claimed, the next scan tries again.
                log.LogWarning("check-back scan failed: {Error}", e.Message);
            }
            await Task.Delay(settings.ScanInterval, stopping);
        }
    }

    private async Task CheckAsync(DueCheck check, CancellationToken stopping)
    {
        try
        {
            // Step 2: ask.
            var answer = await AskAsync(check, stopping);
            // Step 3: apply.
            var effect = await ApplyCheckAnswerAsync(db, check.TxId, answer, settings.MaxChecks, settings.CheckInterval, stopping);
            switch (effect)
            {
                case CheckEffect.Committed:
                    dispatcher.HandOff(check.TxId);
                    log.LogInformation("check {N} of {TxId}: producer said commit", check.CheckOfRound, check.TxId);
                    break;
                case CheckEffect.RolledBack:
                    log.LogInformation("check {N} of {TxId}: producer said rollback", check.CheckOfRound, check.TxId);
                    break;
                case CheckEffect.Parked:
                    log.LogWarning("check {N} of {TxId} ({Answer}) was the last of its round: needs attention (POST /admin/tx/{TxId}/resume)",
                        check.CheckOfRound, check.TxId, answer, check.TxId);
                    break;
                case CheckEffect.AlreadyResolved:
                    log.LogInformation("check {N} of {TxId} answered {Answer}, but it was resolved meanwhile: counted as unexpected",
                        check.CheckOfRound, check.TxId, answer);
                    break;
            }
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            // The answer could not be stored. The row is still prepared and its next check comes due: asked again.
            log.LogWarning("check of {TxId} failed: {Error}", check.TxId, e.Message);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>
    /// Asks the instance that prepared the transaction; falls through to other instances of its group only when
    /// that one cannot be reached. Any instance that answers, even "unknown", ends the search: it reached a
    /// producer that looked, and asking around for a more convenient answer would not make it truer.
    /// RocketMQ picks a channel round-robin and may ask an unrelated producer (#9791), and counts a check it
    /// could not even send (#1694); here the first choice is deliberate and an unreachable one is reported.
    /// </summary>
    private async Task<CheckAnswer> AskAsync(DueCheck check, CancellationToken stopping)
    {
        var (answer, reached) = await AskOneAsync(check.CheckBackUrl, check.TxId, stopping);
        if (reached) return answer;
        foreach (var other in await OtherProducersAsync(db, check.ProducerGroup, check.CheckBackUrl, MaxFallbacks, stopping))
        {
            log.LogInformation("check of {TxId}: {Url} unreachable, asking {Other} of group {Group}", check.TxId, check.CheckBackUrl, other, check.ProducerGroup);
            (answer, reached) = await AskOneAsync(other, check.TxId, stopping);
            if (reached) return answer;
        }
        return CheckAnswer.NoAnswer;
    }

    /// <summary>
    /// One call. <c>Reached</c> is false only when no instance is there (refused, reset, timed out) — the case
    /// for asking another. A reachable instance that fails (5xx, a body that is not an answer) is no answer.
    /// </summary>
    private async Task<(CheckAnswer Answer, bool Reached)> AskOneAsync(string baseUrl, string txId, CancellationToken stopping)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        deadline.CancelAfter(settings.CheckRequestTimeout);
        try
        {
            var url = $"{baseUrl.TrimEnd('/')}/checkback/{Uri.EscapeDataString(txId)}";
            using var response = await _http.PostAsync(url, content: null, deadline.Token);
            if (!response.IsSuccessStatusCode)
            {
                log.LogWarning("check of {TxId} at {Url}: HTTP {Status}, no answer", txId, baseUrl, (int)response.StatusCode);
                return (CheckAnswer.NoAnswer, true);
            }
            var body = await response.Content.ReadFromJsonAsync<CheckBackReply>(Json.Options, deadline.Token);
            return (body?.State switch
            {
                "commit" => CheckAnswer.Commit,
                "rollback" => CheckAnswer.Rollback,
                "unknown" => CheckAnswer.Unknown,
                _ => CheckAnswer.NoAnswer,
            }, true);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            log.LogWarning("check of {TxId} at {Url}: no answer within {Timeout}", txId, baseUrl, settings.CheckRequestTimeout);
            return (CheckAnswer.NoAnswer, false);
        }
        catch (HttpRequestException e)
        {
            log.LogWarning("check of {TxId} at {Url}: unreachable ({Error})", txId, baseUrl, e.Message);
            return (CheckAnswer.NoAnswer, false);
        }
        catch (JsonException)
        {
            log.LogWarning("check of {TxId} at {Url}: the reply is not an answer", txId, baseUrl);
            return (CheckAnswer.NoAnswer, true);
        }
    }

    private sealed record CheckBackReply(string? State);
}
