using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;

namespace Dtx.Harness.Proxy;

/// <summary>
/// A proxy's toxics (Toxiproxy's <c>ToxicCollection</c>): one chain per direction, and the live links they are applied to.
/// Every change goes to the chain and then, under the same lock, to every live link of that direction, so a toxic is in
/// force on existing connections by the time the API answers.
/// </summary>
internal sealed class ToxicCollection
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly List<ToxicSpec>[] _chains = [[], []];
    private readonly ConcurrentDictionary<ToxicLink, byte> _links = new();

    /// <summary>Upstream toxics then downstream ones, each in insertion order (<c>GetToxicArray</c>).</summary>
    public async Task<IReadOnlyList<ToxicSpec>> ListAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try { return [.. _chains[0], .. _chains[1]]; }
        finally { _lock.Release(); }
    }

    public async Task<ToxicSpec> GetAsync(string name)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try { return Find(name) ?? throw ApiException.ToxicNotFound(); }
        finally { _lock.Release(); }
    }

    /// <summary>
    /// <c>AddToxicJson</c>, with its order of checks: body, stream, default name, type, name conflict (across both
    /// streams), then the attributes.
    /// </summary>
    public async Task<ToxicSpec> AddAsync(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw ApiException.BadRequestBody($"json: cannot unmarshal {Toxic.GoKind(body)} into Go value of type toxics.ToxicWrapper");
        string stream = Json.OptionalString(body, "stream", "ToxicWrapper") ?? "downstream";
        string type = Json.OptionalString(body, "type", "ToxicWrapper") ?? "";
        string name = Json.OptionalString(body, "name", "ToxicWrapper") ?? "";
        float toxicity = Json.OptionalFloat(body, "toxicity", "ToxicWrapper") ?? 1.0f;
        if (!Directions.TryParse(stream, out var direction)) throw ApiException.InvalidStream();
        if (name.Length == 0) name = $"{type}_{stream}";
        var toxic = Toxic.Create(type) ?? throw ApiException.InvalidToxicType();

        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Find(name) is not null) throw ApiException.ToxicAlreadyExists();
            if (Json.TryGet(body, "attributes", out var attributes)) toxic.ReadAttributes(attributes);
            var spec = new ToxicSpec(name, stream, direction, toxicity, toxic);
            _chains[(int)direction].Add(spec);
            await ForEachLinkAsync(direction, link => link.AddAsync(spec)).ConfigureAwait(false);
            return spec;
        }
        finally { _lock.Release(); }
    }

    /// <summary><c>UpdateToxicJson</c>: attributes and toxicity are decoded over the current values (a partial update).</summary>
    public async Task<ToxicSpec> UpdateAsync(string name, JsonElement body)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var spec = Find(name) ?? throw ApiException.ToxicNotFound();
            if (body.ValueKind != JsonValueKind.Object)
                throw ApiException.BadRequestBody($"json: cannot unmarshal {Toxic.GoKind(body)} into Go value of type struct {{ Attributes interface {{}} \"json:\\\"attributes\\\"\"; Toxicity float32 \"json:\\\"toxicity\\\"\" }}");
            var updated = spec.Toxic.Clone();
            if (Json.TryGet(body, "attributes", out var attributes)) updated.ReadAttributes(attributes);
            float toxicity = Json.OptionalFloat(body, "toxicity", "ToxicWrapper") ?? spec.Toxicity;
            spec.Toxic = updated;
            spec.Toxicity = toxicity;
            await ForEachLinkAsync(spec.Direction, link => link.UpdateAsync(spec)).ConfigureAwait(false);
            return spec;
        }
        finally { _lock.Release(); }
    }

    public async Task RemoveAsync(string name)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var spec = Find(name) ?? throw ApiException.ToxicNotFound();
            await RemoveLockedAsync(spec).ConfigureAwait(false);
        }
        finally { _lock.Release(); }
    }

    /// <summary>Removes every toxic (<c>ResetToxics</c>), each the normal way, so a timeout still closes its connections.</summary>
    public async Task ResetAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var chain in _chains)
                while (chain.Count > 0) await RemoveLockedAsync(chain[0]).ConfigureAwait(false);
        }
        finally { _lock.Release(); }
    }

    /// <summary>
    /// Wires a new connection: one link per direction, each built from the current chain (<c>StartLink</c>). A
    /// <c>reset_peer</c> in a chain gives both sockets SO_LINGER 0, as <c>ToxicLink.Start</c> does.
    /// </summary>
    public async Task<(ToxicLink Up, ToxicLink Down)> StartLinksAsync(Socket client, Socket upstream, Action onLinkClosed)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_chains.Any(chain => chain.Any(spec => spec.Toxic.ResetsOnClose)))
            {
                client.LingerState = new LingerOption(true, 0);
                upstream.LingerState = new LingerOption(true, 0);
            }
            var up = new ToxicLink(Direction.Upstream, client, upstream, _chains[0], Closed);
            var down = new ToxicLink(Direction.Downstream, upstream, client, _chains[1], Closed);
            _links[up] = 0;
            _links[down] = 0;
            up.Start();
            down.Start();
            return (up, down);
        }
        finally { _lock.Release(); }

        void Closed(ToxicLink link)
        {
            _links.TryRemove(link, out _);
            onLinkClosed();
        }
    }

    private async Task RemoveLockedAsync(ToxicSpec spec)
    {
        _chains[(int)spec.Direction].Remove(spec);
        await ForEachLinkAsync(spec.Direction, link => link.RemoveAsync(spec)).ConfigureAwait(false);
    }

    private ToxicSpec? Find(string name) => _chains.SelectMany(c => c).FirstOrDefault(s => s.Name == name);

    /// <summary>Applies a change to every live link of one direction in parallel; a link dying meanwhile is not an error.</summary>
    private Task ForEachLinkAsync(Direction direction, Func<ToxicLink, Task> change) =>
        Task.WhenAll(_links.Keys.Where(l => l.Direction == direction).Select(async link =>
        {
            try { await change(link).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or System.Threading.Channels.ChannelClosedException) { }
        }));
}
