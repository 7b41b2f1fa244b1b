"""The quarterly review as one offline HTML file: charts, tables and sentences from `workflows.review`."""
