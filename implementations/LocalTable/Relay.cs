using System.Threading.Channels;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Hosting;
using Dtx.Shared.Messaging;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Dtx.LocalTable;

/// <summary>
/// Takes outbox rows to RabbitMQ. Two paths feed it:
/// <list type="number">
/// <item>the hand-off: right after a commit the writer passes the new row's id, so a message normally leaves
///   within milliseconds (every mature .NET outbox sends straight after commit; polling alone is slow);</item>
/// <item>the polling fallback: every poll interval it claims rows that are due — never handed off because the
///   process died after the commit, released after a failed publish, or awaiting a reply past its timeout.</item>
/// </list>
/// A row is marked only after the broker's confirm. A crash between the confirm and the mark (the
/// <c>relay.after-publish</c> step) republishes the message once the lease ends: at-least-once, and the
/// receiving inbox makes that exactly-once in effect.
/// </summary>
public sealed class Relay(NpgsqlDataSource db, Failpoints failpoints, ServiceOptions options, ILogger<Relay> log)
{
    public const string AfterPublish = "relay.after-publish";

    private const int BatchSize = 100;
    private static readonly TimeSpan FailedPublishBackoff = TimeSpan.FromSeconds(1);

    // Bounded so that a broker outage cannot grow memory without limit; a dropped id is not lost, the poller finds its row.
    private readonly Channel<long> _handOff = Channel.CreateBounded<long>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly SemaphoreSlim _publisherLock = new(1, 1);
    private AmqpConnection? _amqp;
    private ConfirmingPublisher? _publisher;

    public void HandOff(long outboxId) => _handOff.Writer.TryWrite(outboxId);

    public async Task StartAsync(AmqpConnection amqp, CancellationToken stopping)
    {
        _amqp = amqp;
        _publisher = await amqp.CreatePublisherAsync(stopping);
        _ = Task.Run(() => HandOffLoopAsync(stopping), stopping);
        _ = Task.Run(() => PollLoopAsync(stopping), stopping);
    }

    private async Task HandOffLoopAsync(CancellationToken stopping)
    {
        var ids = new List<long>(BatchSize);
        while (await _handOff.Reader.WaitToReadAsync(stopping))
        {
            ids.Clear();
            while (ids.Count < BatchSize && _handOff.Reader.TryRead(out var id)) ids.Add(id);
            await RunPassAsync([.. ids], stopping);
        }
    }

    private async Task PollLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var claimed = await RunPassAsync(null, stopping);
            // Rows no hand-off delivered: left by a crash after commit, a failed publish, or a missing reply.
            if (claimed > 0) log.LogInformation("polling relay claimed {Count} due row(s)", claimed);
            // A full batch means more may be due: go again at once instead of waiting out the interval.
            if (claimed < BatchSize) await Task.Delay(options.PollInterval, stopping);
        }
    }

    /// <summary>Claims rows (the given ones, or any due), publishes them concurrently, returns how many it claimed.</summary>
    private async Task<int> RunPassAsync(long[]? ids, CancellationToken stopping)
    {
        try
        {
            var claimed = await Outbox.ClaimAsync(db, ids, BatchSize, options.Lease, stopping);
            await Task.WhenAll(claimed.Select(message => PublishAsync(message, stopping)));
            return claimed.Count;
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            // The database is down or restarting: the rows stay where they are, and the next pass tries again.
            log.LogWarning("relay pass failed: {Error}", e.Message);
            await Task.Delay(options.PollInterval, stopping);
            return 0;
        }
    }

    private async Task PublishAsync(Outbox.Message message, CancellationToken stopping)
    {
        try
        {
            var publisher = await PublisherAsync(stopping);
            await publisher.PublishAsync(message.Queue, message.MessageId.ToString(), System.Text.Encoding.UTF8.GetBytes(message.Body), stopping);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            log.LogWarning("publish of {MessageId} failed: {Error}; it will be retried", message.MessageId, e.Message);
            await Outbox.ReleaseAsync(db, message, FailedPublishBackoff, stopping);
            return;
        }
        if (message.Attempts > 1) log.LogInformation("republished {MessageId} (attempt {Attempt})", message.MessageId, message.Attempts);
        await failpoints.HitAsync(AfterPublish, stopping);
        await Outbox.MarkPublishedAsync(db, message, options.ReplyTimeout, stopping);
    }

    /// <summary>The publisher channel, opened again if the broker closed it (recovery restores channels, but not one the broker shut for an error).</summary>
    private async Task<ConfirmingPublisher> PublisherAsync(CancellationToken stopping)
    {
        if (_publisher is { IsOpen: true } open) return open;
        await _publisherLock.WaitAsync(stopping);
        try
        {
            if (_publisher is { IsOpen: true } reopened) return reopened;
            if (_publisher is not null) await _publisher.DisposeAsync();
            _publisher = await _amqp!.CreatePublisherAsync(stopping);
            return _publisher;
        }
        finally
        {
            _publisherLock.Release();
        }
    }
}
