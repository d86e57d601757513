"""Who is asking, and what they may see and do: API keys, principals and access rules."""
