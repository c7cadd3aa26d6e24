using System.Text.Json;

namespace Dtx.Harness.Proxy;

/// <summary>All proxies by name (Toxiproxy's <c>ProxyCollection</c>), including <c>/populate</c>'s add-or-replace.</summary>
internal sealed class ProxyCollection
{
    private readonly Lock _sync = new();
    private readonly Dictionary<string, Proxy> _proxies = new(StringComparer.Ordinal);

    public IReadOnlyList<Proxy> All()
    {
        lock (_sync) return [.. _proxies.Values];
    }

    public Proxy Get(string name)
    {
        lock (_sync) return _proxies.GetValueOrDefault(name) ?? throw ApiException.ProxyNotFound();
    }

    /// <summary>409 if the name is taken; otherwise starts it (if asked) before it becomes visible, so a bind error leaves nothing behind.</summary>
    public void Add(Proxy proxy, bool start)
    {
        lock (_sync)
        {
            if (_proxies.ContainsKey(proxy.Name)) throw ApiException.ProxyAlreadyExists();
            if (start) proxy.Start();
            _proxies[proxy.Name] = proxy;
        }
    }

    public void Remove(string name)
    {
        lock (_sync)
        {
            var proxy = _proxies.GetValueOrDefault(name) ?? throw ApiException.ProxyNotFound();
            proxy.Stop();
            _proxies.Remove(name);
        }
    }

    /// <summary>
    /// <c>PopulateJson</c>: validate every entry (name, upstream) before touching anything, then add or replace in order.
    /// A failure part-way keeps the proxies already applied and reports them alongside the error.
    /// </summary>
    public (IReadOnlyList<Proxy> Applied, ApiException? Error) Populate(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Array)
            return ([], ApiException.BadRequestBody($"json: cannot unmarshal {Toxic.GoKind(body)} into Go value of type []toxiproxy.Proxy"));
        var wanted = new List<(Proxy Proxy, bool Enabled)>();
        int position = 0;
        try
        {
            foreach (var entry in body.EnumerateArray())
            {
                position++;
                if (entry.ValueKind != JsonValueKind.Object)
                    throw ApiException.BadRequestBody($"json: cannot unmarshal {Toxic.GoKind(entry)} into Go value of type toxiproxy.Proxy");
                string name = Json.OptionalString(entry, "name", "Proxy") ?? "";
                string listen = Json.OptionalString(entry, "listen", "Proxy") ?? "";
                string upstream = Json.OptionalString(entry, "upstream", "Proxy") ?? "";
                bool enabled = Json.OptionalBool(entry, "enabled", "Proxy") ?? true; // nullable in /populate, default on
                if (name.Length == 0) throw ApiException.MissingField($"name at proxy {position}");
                if (upstream.Length == 0) throw ApiException.MissingField($"upstream at proxy {position}");
                wanted.Add((new Proxy(name, listen, upstream), enabled));
            }
        }
        catch (ApiException e)
        {
            return ([], e);
        }

        var applied = new List<Proxy>();
        foreach (var (proxy, enabled) in wanted)
        {
            try { applied.Add(AddOrReplace(proxy, enabled)); }
            catch (ApiException e) { return (applied, e); }
        }
        return (applied, null);
    }

    /// <summary>
    /// Same listen and upstream as the existing proxy: keep it as it is (toxics, enabled state and all). Otherwise stop
    /// the old one and put the fresh proxy, without toxics, in its place. Listen is compared as given, like Toxiproxy.
    /// </summary>
    private Proxy AddOrReplace(Proxy proxy, bool start)
    {
        lock (_sync)
        {
            if (_proxies.TryGetValue(proxy.Name, out var existing))
            {
                if (existing.Listen == proxy.Listen && existing.Upstream == proxy.Upstream) return existing;
                existing.Stop();
            }
            if (start) proxy.Start();
            _proxies[proxy.Name] = proxy;
            return proxy;
        }
    }
}
