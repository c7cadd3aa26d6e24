namespace Dtx.Shared.Messaging;

/// <summary>
/// A <see cref="ConfirmingPublisher"/> that is opened again when the broker has closed its channel: the client's
/// automatic recovery restores channels after a lost connection, but not one the broker shut for a channel error.
/// </summary>
public sealed class ReopeningPublisher(AmqpConnection amqp) : IAsyncDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private ConfirmingPublisher? _publisher;

    public async Task<ConfirmingPublisher> GetAsync(CancellationToken ct)
    {
        if (_publisher is { IsOpen: true } open) return open;
        await _lock.WaitAsync(ct);
        try
        {
            if (_publisher is { IsOpen: true } reopened) return reopened;
            if (_publisher is not null) await _publisher.DisposeAsync();
            _publisher = await amqp.CreatePublisherAsync(ct);
            return _publisher;
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_publisher is not null) await _publisher.DisposeAsync();
        _lock.Dispose();
    }
}
