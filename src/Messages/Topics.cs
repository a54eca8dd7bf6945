namespace Litecast.Messages;

/// <summary>Names of the DistributedPubSub topics Litecast publishes on.</summary>
public static class Topics
{
    /// <summary>
    /// The topic carrying <see cref="PageBatch"/> and <see cref="Heartbeat"/> of one database of one primary:
    /// <c>litecast/{primaryNode}/{database}</c>, each part URI-escaped so that node addresses and database names
    /// containing '/' or ':' stay unambiguous. Keyed by the primary's identity, never by a path alone.
    /// </summary>
    /// <exception cref="ArgumentException">Either argument is null, empty or whitespace.</exception>
    public static string ForDatabase(string primaryNode, string database)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(primaryNode);
        ArgumentException.ThrowIfNullOrWhiteSpace(database);
        return "litecast/" + Uri.EscapeDataString(primaryNode) + "/" + Uri.EscapeDataString(database);
    }
}
