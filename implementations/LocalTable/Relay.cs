using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Dtx.Shared.Mutants;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Dtx.LocalTable;

/// <summary>
/// Takes outbox rows to RabbitMQ, fed by a hand-off right after each commit and a polling fallback
/// (<see cref="HandOffAndPoll{TKey}"/>). The poller also finds orders awaiting a reply past their timeout: their
/// row came due again, and publishing it again is the republish.
/// A row is marked only after the broker's confirm. A crash between the confirm and the mark (the
/// <c>relay.after-publish</c> step) republishes the message once the lease ends: at-least-once, and the
/// receiving inbox makes that exactly-once in effect.
/// </summary>
public sealed class Relay
{
    public const string AfterPublish = StepRoles.RelayAfterPublish;

    private static readonly TimeSpan FailedPublishBackoff = TimeSpan.FromSeconds(1);
    private readonly NpgsqlDataSource _db;
    private readonly Failpoints _failpoints;
    private readonly ServiceOptions _options;
    private readonly ILogger<Relay> _log;
    private readonly HandOffAndPoll<long> _feed;
    // Safeguards a mutant run switches off (MutantCatalog.cs); false in every real run.
    private readonly bool _markBeforeConfirm, _noRepublish;
    private ReopeningPublisher? _publisher;

    public Relay(NpgsqlDataSource db, Failpoints failpoints, ServiceOptions options, ILogger<Relay> log)
    {
        (_db, _failpoints, _options, _log) = (db, failpoints, options, log);
        _markBeforeConfirm = options.IsMutant(MutantCatalog.MarkBeforeConfirm);
        _noRepublish = options.IsMutant(MutantCatalog.NoRepublish);
        _feed = new HandOffAndPoll<long>("relay", RunPassAsync, options.PollInterval, log);
    }

    public void HandOff(long outboxId) => _feed.HandOff(outboxId);

    public Task StartAsync(AmqpConnection amqp, CancellationToken stopping)
    {
        _publisher = new ReopeningPublisher(amqp);
        _feed.Start(stopping);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Claims rows (the given ones, or any due), publishes them concurrently, then logs and marks the confirmed ones
    /// with one statement each for the whole batch; returns how many it claimed.
    /// </summary>
    private async Task<int> RunPassAsync(long[]? ids, CancellationToken stopping)
    {
        var claimed = await Outbox.ClaimAsync(_db, ids, HandOffAndPoll<long>.BatchSize, _options.Lease, stopping);
        // Without a reply to wait for, a row goes once published: no republish when the answer is late.
        if (_noRepublish) claimed = [.. claimed.Select(message => message with { AwaitReply = false })];
        if (_markBeforeConfirm && claimed.Count > 0) await Outbox.MarkPublishedAsync(_db, claimed, _options.ReplyTimeout, stopping);
        var confirmed = await Task.WhenAll(claimed.Select(message => PublishAsync(message, stopping)));
        var published = claimed.Where((_, i) => confirmed[i]).ToList();
        if (published.Count == 0) return claimed.Count;
        await Outbox.LogPublishedAsync(_db, published, stopping);
        foreach (var _ in published) await _failpoints.HitAsync(AfterPublish, stopping);
        // Only now, after the broker's confirms: a crash before this line publishes the rows again, never loses them.
        if (!_markBeforeConfirm) await Outbox.MarkPublishedAsync(_db, published, _options.ReplyTimeout, stopping);
        return claimed.Count;
    }

    /// <summary>True when the broker confirmed the message; false when the publish failed and the row was given back.</summary>
    private async Task<bool> PublishAsync(Outbox.Message message, CancellationToken stopping)
    {
        try
        {
            var publisher = await _publisher!.GetAsync(stopping);
            await publisher.PublishAsync(message.Queue, message.MessageId.ToString(), System.Text.Encoding.UTF8.GetBytes(message.Body), stopping);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested && _markBeforeConfirm)
        {
            _log.LogWarning("publish of {MessageId} failed: {Error}; it was already marked published", message.MessageId, e.Message);
            return false;
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            _log.LogWarning("publish of {MessageId} failed: {Error}; it will be retried", message.MessageId, e.Message);
            try
            {
                await Outbox.ReleaseAsync(_db, message, FailedPublishBackoff, stopping);
            }
            catch (Exception releaseError) when (!stopping.IsCancellationRequested)
            {
                // The row stays leased and comes due when the lease ends; the batch's confirmed messages must still be logged and marked.
                _log.LogWarning("release of {MessageId} failed: {Error}; it is retried when its lease ends", message.MessageId, releaseError.Message);
            }
            return false;
        }
        if (message.Attempts > 1) _log.LogInformation("republished {MessageId} (attempt {Attempt})", message.MessageId, message.Attempts);
        return true;
    }
}
