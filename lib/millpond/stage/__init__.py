"""What a stage notebook uses: its context, the warehouse connection, materializations."""
