namespace Litecast.Chaos;

/// <summary>
/// The state of the cluster link between each pair of nodes, shared by every relay: up; cut (a silent partition:
/// nothing is forwarded, and what was sent is held and delivered once healed, as TCP's retransmissions would after a
/// short outage); reset (existing connections reset, new ones refused, like a firewall's reject); or delayed (each
/// chunk forwarded that much later). Links are undirected: Akka.Remote carries both directions of an association over
/// the one TCP connection that either side opened.
/// </summary>
internal sealed class Links
{
    private readonly object _gate = new();
    private readonly Dictionary<(string, string), LinkState> _states = new();
    private readonly HashSet<RelayedConnection> _open = new();

    public sealed record LinkState(bool Held, bool Reset, TimeSpan Delay);

    private static readonly LinkState Up = new(false, false, TimeSpan.Zero);

    private static (string, string) Key(string a, string b) => string.CompareOrdinal(a, b) <= 0 ? (a, b) : (b, a);

    public LinkState Get(string? a, string b)
    {
        if (a is null) return Up; // a client no node owns (it died meanwhile): nothing to cut
        lock (_gate) return _states.GetValueOrDefault(Key(a, b), Up);
    }

    public void Cut(string a, string b)
    {
        lock (_gate) _states[Key(a, b)] = new LinkState(true, false, TimeSpan.Zero);
    }

    public void Reset(string a, string b)
    {
        List<RelayedConnection> closing;
        lock (_gate)
        {
            _states[Key(a, b)] = new LinkState(false, true, TimeSpan.Zero);
            closing = _open.Where(c => Key(c.Client, c.Server) == Key(a, b)).ToList();
        }
        foreach (var connection in closing) connection.Close();
    }

    public void Delay(string a, string b, TimeSpan delay)
    {
        lock (_gate) _states[Key(a, b)] = new LinkState(false, false, delay);
    }

    public void Heal(string a, string b)
    {
        lock (_gate) _states.Remove(Key(a, b));
    }

    public void HealAll()
    {
        lock (_gate) _states.Clear();
    }

    /// <summary>Registers a connection; false (and it must be closed) when its link is reset.</summary>
    public bool Register(RelayedConnection connection)
    {
        lock (_gate)
        {
            if (_states.GetValueOrDefault(Key(connection.Client, connection.Server), Up).Reset) return false;
            _open.Add(connection);
            return true;
        }
    }

    public void Unregister(RelayedConnection connection)
    {
        lock (_gate) _open.Remove(connection);
    }

    public int OpenConnections
    {
        get { lock (_gate) return _open.Count; }
    }
}
